"""Benchmark of the similar-proposal engine on real duplicate reports.

Usage::

    python tests/benchmarks/bench_similarity.py DATA_DIR [--sizes 10000 100000]
        [--method lexical|semantic] [--json]

DATA_DIR holds ``dev/docs.jsonl``, ``dev/queries.txt`` and ``padding.jsonl`` (see its
README). Protocol: store every report plus padding up to the size; each query report
searches with its own title + description, itself excluded; a hit is another report of its
group in the top 5. Also measured: the warning decision "best score >= t" (precision: a
warning is right when a duplicate is among the 5 shown; recall: queries that get a right
warning), the false-warning rate on "novel" queries (the query's whole group excluded, so no
duplicate exists), query latency (one at a time), build time, RSS growth and the cost of
incremental add/remove on the full index.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.similarity import WARN_THRESHOLD, SimilarityIndex

THRESHOLDS = (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50)


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


def run_size(
    size: int,
    method: str,
    docs: list[dict[str, str]],
    padding: list[dict[str, str]],
    queries: list[str],
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
    index = SimilarityIndex(method)
    t0 = time.perf_counter()
    index.add_many(batch)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_delta = rss_mb() - rss0

    qidx = [key[q] for q in queries]
    lat: list[float] = []
    best: list[float] = []
    hits: list[bool] = []
    for qi in qidx:
        d = store[qi]
        t0 = time.perf_counter()
        res = index.search(d["title"], d["description"], limit=5, exclude=(qi,))
        lat.append(time.perf_counter() - t0)
        best.append(res[0].score if res else 0.0)
        hits.append(any(group[m.doc_id] == group[qi] for m in res))
    hit = np.array(hits)
    best_arr = np.array(best)

    # Novel proposals: the same reports, but with every duplicate hidden.
    novel_best = []
    for qi in qidx:
        d = store[qi]
        res = index.search(d["title"], d["description"], limit=1, exclude=members[group[qi]])
        novel_best.append(res[0].score if res else 0.0)
    novel = np.array(novel_best)

    # Incremental maintenance on the full index: replace, add new, remove.
    # Enough adds to include at least one compaction of the main segment.
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
    at_default = warning_stats(best_arr, hit, WARN_THRESHOLD)
    at_default["novel_false_warning"] = float((novel >= WARN_THRESHOLD).mean())
    return {
        "size": len(store),
        "method": method,
        "queries": len(qidx),
        "recall_at_5": float(hit.mean()),
        "warn_threshold": at_default,
        "threshold_table": table,
        "query_ms_p50": float(np.percentile(lat_ms, 50)),
        "query_ms_p99": float(np.percentile(lat_ms, 99)),
        "query_ms_mean": float(lat_ms.mean()),
        "build_s": build_s,
        "rss_delta_mb": rss_delta,
        "add_ms_amortised": add_ms,
        "remove_ms_amortised": remove_ms,
        "compact_s": compact_s,
    }


def show(r: dict[str, Any]) -> None:
    """Print one size's results as text."""
    w = r["warn_threshold"]
    print(f"== {r['method']} @ {r['size']} entries, {r['queries']} queries")
    print(f"recall@5            {r['recall_at_5']:.4f}")
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
    print(f"build               {r['build_s']:.1f} s   RSS delta {r['rss_delta_mb']:.0f} MB")
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
    args = ap.parse_args(argv)
    docs, padding, queries = load(args.data_dir)
    results = []
    for size in args.sizes:
        r = run_size(size, args.method, docs, padding, queries)
        results.append(r)
        if not args.json:
            show(r)
        gc.collect()
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
