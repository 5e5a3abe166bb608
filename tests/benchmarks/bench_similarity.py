"""Benchmark of the similar-proposal engine on real duplicate reports.

Usage::

    python tests/benchmarks/bench_similarity.py DATA_DIR [--sizes 10000 100000]
        [--method lexical|semantic] [--json] [--cache-dir DIR | --no-cache]

DATA_DIR holds ``dev/docs.jsonl``, ``dev/queries.txt`` and ``padding.jsonl`` (see its
README). Protocol: store every report plus padding up to the size; each query report
searches with its own title + description, itself excluded; a hit is another report of its
group in the top 5. Also measured: the warning the bot shows (``bot/similarity/warning.py``,
the shipped model) on the held-out half of the duplicate groups (the half the model was not
fitted on, see ``scripts/fit_warning.py``): precision (a warning is right when a duplicate is
among the matches shown), recall (queries that get a right warning) and the false-warning
rate on "novel" queries (the query's whole group excluded, so no duplicate exists); the same
for the former rule "best score >= t" as a table; query latency (one at a time, search and
warning decision), build time, RSS growth and the cost of incremental add/remove on the full
index.

With ``--method semantic`` the document embeddings are kept on disk (default: a
``csi-bot-similarity-cache`` folder in the temporary directory) the way the bot keeps them
with ``CSI_SIMILARITY_EMBEDDINGS`` (keyed by a hash of the embedded text), so only the first
run pays the tens of minutes of embedding a 100k store; "build" then measures the index
without the model time. Query embeddings are never kept: the latency figures always include
the model, and so do the incremental adds. Use ``--no-cache`` to measure the real build time.
The semantic warning model weighs the cosine of the embeddings too (``Match.cosine``).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.similarity import SimilarityIndex, threshold_for
from bot.similarity.warning import POOL, Candidate, Proposed, decide, shipped_model
from scripts.fit_warning import fit_half

THRESHOLDS = (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60)


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; falls back to peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(data_dir: Path) -> tuple[list[dict[str, str]], list[dict[str, str]], list[str]]:
    """(reports, padding texts, query ids) from the data folder."""

    def read(p: Path) -> list[dict[str, str]]:
        with p.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    docs = read(data_dir / "dev" / "docs.jsonl")
    padding = read(data_dir / "padding.jsonl")
    queries = (data_dir / "dev" / "queries.txt").read_text().split()
    return docs, padding, queries


def embeddings_file(cache_dir: Path) -> Path:
    """Where the semantic method's document embeddings are kept between runs (in the format of
    ``CSI_SIMILARITY_EMBEDDINGS``); the name carries the model settings."""
    from bot.similarity import _semantic

    sig = hashlib.sha1(repr((_semantic.MAX_TOKENS, _semantic.DIM)).encode()).hexdigest()[:12]
    return cache_dir / f"minilm-{sig}.npz"


def warning_stats(best: np.ndarray, hit: np.ndarray, t: float) -> dict[str, float]:
    """Precision and recall of "warn when best score >= t"."""
    warn = best >= t
    right = warn & hit
    return {
        "threshold": t,
        "warned": float(warn.mean()),
        "precision": float(right.sum() / max(warn.sum(), 1)),
        "recall": float(right.mean()),
    }


def model_stats(warn: np.ndarray, right: np.ndarray, novel_warn: np.ndarray) -> dict[str, float]:
    """Precision, recall and novel false-warning rate of the bot's warning decision."""
    return {
        "queries": len(warn),
        "warned": float(warn.mean()) if len(warn) else 0.0,
        "precision": float(right.sum() / max(warn.sum(), 1)),
        "recall": float(right.mean()) if len(right) else 0.0,
        "novel_false_warning": float(novel_warn.mean()) if len(novel_warn) else 0.0,
    }


def run_size(
    size: int,
    method: str,
    docs: list[dict[str, str]],
    padding: list[dict[str, str]],
    queries: list[str],
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Build an index of ``size`` entries and measure it."""
    store = docs + padding[: max(0, size - len(docs))]
    key = {d["id"]: i for i, d in enumerate(store)}
    group = [d.get("group", d["id"]) for d in store]
    members: dict[str, set[int]] = {}
    for i, g in enumerate(group):
        members.setdefault(g, set()).add(i)
    batch = [(i, d["title"], d["description"]) for i, d in enumerate(store)]

    gc.collect()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    index = SimilarityIndex(method)
    load_s = time.perf_counter() - t0
    reranker = index.semantic
    cached = reranker is not None and cache_dir is not None
    kept = 0
    if reranker is not None and cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        kept = reranker.persist_to(embeddings_file(cache_dir))
    rss0b = rss_mb()
    t0 = time.perf_counter()
    index.add_many(batch)
    build_s = time.perf_counter() - t0
    if cached and len(index) >= kept:  # a smaller store would keep fewer embeddings
        index.save()
    gc.collect()
    rss_delta = rss_mb() - rss0
    rss_model = rss0b - rss0
    threshold = threshold_for(method)

    qidx = [key[q] for q in queries]
    model = shipped_model(method)

    def warned(d: dict[str, str], res: list[Any]) -> tuple[bool, list[int]]:
        """The bot's decision for a query: warn or not, and the doc ids shown."""
        if model is None:
            return False, []
        cands = [
            Candidate(m.doc_id, m.score, store[m.doc_id]["title"], cosine=m.cosine) for m in res
        ]
        w = decide(Proposed(d["title"], d["description"]), cands, store_size=size, model=model)
        return w.warn, [f.doc_id for f in w.shown]

    lat: list[float] = []
    decide_lat: list[float] = []
    best: list[float] = []
    hits: list[bool] = []
    model_warn: list[bool] = []
    model_right: list[bool] = []
    for qi in qidx:
        d = store[qi]
        t0 = time.perf_counter()
        res = index.search(d["title"], d["description"], limit=POOL, exclude=(qi,))
        t1 = time.perf_counter()
        warn, shown = warned(d, res)
        t2 = time.perf_counter()
        lat.append(t2 - t0)
        decide_lat.append(t2 - t1)
        best.append(res[0].score if res else 0.0)
        hits.append(any(group[m.doc_id] == group[qi] for m in res[:5]))
        model_warn.append(warn)
        model_right.append(any(group[i] == group[qi] for i in shown))
    hit = np.array(hits)
    best_arr = np.array(best)

    # Novel proposals: the same reports, but with every duplicate hidden.
    novel_best = []
    novel_warn = []
    for qi in qidx:
        d = store[qi]
        res = index.search(d["title"], d["description"], limit=POOL, exclude=members[group[qi]])
        novel_best.append(res[0].score if res else 0.0)
        novel_warn.append(warned(d, res)[0])
    novel = np.array(novel_best)
    held = np.array([not fit_half(group[qi]) for qi in qidx])
    decision = {
        part: model_stats(
            np.array(model_warn)[mask], np.array(model_right)[mask], np.array(novel_warn)[mask]
        )
        for part, mask in (("held_out", held), ("fit", ~held), ("all", np.ones_like(held)))
    }

    # Incremental maintenance on the full index: replace, add new, remove.
    # Enough adds to include at least one compaction of the main segment.
    if reranker is not None:
        reranker.stop_persisting()  # a single add includes embedding the document
    extra = (padding[size:] + padding)[:2000]
    t0 = time.perf_counter()
    for j, d in enumerate(extra):
        index.add(10_000_000 + j, d["title"], d["description"])
    add_ms = (time.perf_counter() - t0) * 1000 / len(extra)
    t0 = time.perf_counter()
    for j in range(len(extra)):
        index.remove(10_000_000 + j)
    remove_ms = (time.perf_counter() - t0) * 1000 / len(extra)

    # Worst single add: the one that triggers a compaction of the whole main segment.
    compact_s = 0.0
    engine = getattr(index, "_lexical", None)
    if engine is not None:
        t0 = time.perf_counter()
        engine.compact()
        compact_s = time.perf_counter() - t0

    lat_ms = np.array(lat) * 1000
    table = [warning_stats(best_arr, hit, t) for t in THRESHOLDS]
    for row in table:
        row["novel_false_warning"] = float((novel >= row["threshold"]).mean())
    at_default = warning_stats(best_arr, hit, threshold)
    at_default["novel_false_warning"] = float((novel >= threshold).mean())
    held_default = warning_stats(best_arr[held], hit[held], threshold)
    held_default["novel_false_warning"] = float((novel[held] >= threshold).mean())
    return {
        "size": len(store),
        "method": method,
        "queries": len(qidx),
        "recall_at_5": float(hit.mean()),
        "recall_at_5_held_out": float(hit[held].mean()),
        "warning_model": None if model is None else {"warn_at": model.warn_at, **decision},
        "warn_threshold_held_out": held_default,
        "warn_threshold": at_default,
        "threshold_table": table,
        "query_ms_p50": float(np.percentile(lat_ms, 50)),
        "query_ms_p99": float(np.percentile(lat_ms, 99)),
        "query_ms_mean": float(lat_ms.mean()),
        "decision_ms_p50": float(np.percentile(np.array(decide_lat) * 1000, 50)),
        "decision_ms_p99": float(np.percentile(np.array(decide_lat) * 1000, 99)),
        "build_s": build_s,
        "build_cached": cached,
        "model_load_s": load_s,
        "rss_delta_mb": rss_delta,
        "rss_model_mb": rss_model,
        "add_ms_amortised": add_ms,
        "remove_ms_amortised": remove_ms,
        "compact_s": compact_s,
    }


def show(r: dict[str, Any]) -> None:
    """Print one size's results as text."""
    w = r["warn_threshold"]
    print(f"== {r['method']} @ {r['size']} entries, {r['queries']} queries")
    print(
        f"recall@5            {r['recall_at_5']:.4f} "
        f"(held-out half {r['recall_at_5_held_out']:.4f})"
    )
    m = r["warning_model"]
    if m is None:
        print("warning model       none shipped for this method: the threshold rule decides")
    else:
        for part in ("held_out", "fit", "all"):
            s = m[part]
            print(
                f"warning ({part:8s})  precision {s['precision']:.3f}  recall {s['recall']:.3f}  "
                f"warned {s['warned']:.3f}  novel false-warning {s['novel_false_warning']:.3f}  "
                f"({s['queries']} queries)"
            )
    h = r["warn_threshold_held_out"]
    print(
        f"held-out, best>={h['threshold']:.2f}  precision {h['precision']:.3f}  "
        f"recall {h['recall']:.3f}  novel false-warning {h['novel_false_warning']:.3f}"
    )
    print(
        f"warn t={w['threshold']:.2f}          precision {w['precision']:.3f}  "
        f"recall {w['recall']:.3f}  warned {w['warned']:.3f}  "
        f"novel false-warning {w['novel_false_warning']:.3f}"
    )
    print("  t     warned  precision  recall  novel-false-warning")
    for row in r["threshold_table"]:
        print(
            f"  {row['threshold']:.2f}  {row['warned']:.3f}   {row['precision']:.3f}      "
            f"{row['recall']:.3f}   {row['novel_false_warning']:.3f}"
        )
    print(
        f"query ms            p50 {r['query_ms_p50']:.2f}  p99 {r['query_ms_p99']:.2f}  "
        f"mean {r['query_ms_mean']:.2f}"
    )
    print(
        f"  of which warning   p50 {r['decision_ms_p50']:.2f}  p99 {r['decision_ms_p99']:.2f} "
        "(features and model of the best matches)"
    )
    cached = " (document embeddings from the cache)" if r["build_cached"] else ""
    print(
        f"build               {r['build_s']:.1f} s{cached}   RSS delta "
        f"{r['rss_delta_mb']:.0f} MB (model load {r['model_load_s']:.1f} s, "
        f"{r['rss_model_mb']:.0f} MB)"
    )
    print(
        f"incremental         add {r['add_ms_amortised']:.2f} ms  "
        f"remove {r['remove_ms_amortised']:.2f} ms (amortised, on the full index); "
        f"one compaction {r['compact_s']:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--method", choices=["lexical", "semantic"], default="lexical")
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    ap.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "csi-bot-similarity-cache",
        help="document-embedding cache of the semantic method",
    )
    ap.add_argument("--no-cache", action="store_true", help="always embed the documents")
    args = ap.parse_args(argv)
    cache_dir = None if args.no_cache else args.cache_dir
    docs, padding, queries = load(args.data_dir)
    results = []
    for size in args.sizes:
        r = run_size(size, args.method, docs, padding, queries, cache_dir)
        results.append(r)
        if not args.json:
            show(r)
        gc.collect()
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
