"""Fit the similar-proposal warning (bot/similarity/warning_model.json) on labelled duplicates.

Usage::

    python scripts/fit_warning.py DATA_DIR [--sizes 10000 100000] [--method lexical|semantic]
        [--write] [--pools-cache FILE] [--embeddings FILE] [--false-warnings RATE]

DATA_DIR is the similarity data folder (``dev/docs.jsonl``, ``dev/queries.txt``,
``padding.jsonl``; see its README). The duplicate groups are split in two halves by a hash of
the group id (``fit_half``): the model is fitted on the queries of one half and reported on
the other, so the figures printed for the held-out half are honest. For every query and store
size the engine's best ``POOL`` matches are taken twice: as found (the query's duplicates
present), and with the query's whole group removed (a proposal with no duplicate). Each of the
best ``SHOWN`` candidates is a labelled pair: 1 when it is of the query's group. With
``--method semantic`` the candidates carry the cosine of the embeddings, and the model weighs
it too (``warning.SEMANTIC_FEATURES``); ``--embeddings FILE`` keeps the document embeddings
between runs (as ``CSI_SIMILARITY_EMBEDDINGS`` does in the bot), so only the first run embeds
the 100k store.

A logistic regression (Newton's method, a little L2) is fitted on those pairs; the warning's
cut-off ``warn_at`` is then chosen on the fitting half: the highest warning recall whose
precision and false-warning rate meet the targets (``calibration.TARGET_*``; the latter can be
set with ``--false-warnings``) at every size;
``show_at`` is half of it. ``--write`` stores the result in the package, as the entry of the
method (the other method's entry is kept); without it the script only prints.

The fitting itself lives in ``bot/similarity/calibration.py``, which ``csi-bot similar
--calibrate`` also uses on a register's own pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.similarity import Match, SimilarityIndex
from bot.similarity.calibration import (
    TARGET_FALSE_WARNINGS,
    TARGET_PRECISION,
    Labelled,
    choose_cutoffs,
    evaluate,
    fit_logistic,
    labelled,
    pairs,
)
from bot.similarity.warning import (
    MODEL_FILE,
    POOL,
    Candidate,
    Proposed,
    WarningModel,
    features_for,
)

MODEL_PATH = Path(__file__).resolve().parents[1] / "bot" / "similarity" / MODEL_FILE


def fit_half(group: str) -> bool:
    """True for the groups the model is fitted on, False for the held-out half."""
    return hashlib.sha1(group.encode()).digest()[0] % 2 == 0


def astuple_shallow(q: Labelled) -> tuple[Any, ...]:
    """The fields of a query, in order (its candidates stay objects)."""
    return tuple(getattr(q, f.name) for f in fields(q))


def pools(
    index: SimilarityIndex,
    texts: Sequence[tuple[str, str]],
    group: Sequence[str],
    query_ids: Sequence[int],
) -> list[Labelled]:
    """Search every query twice (duplicates present / removed) and keep the pools."""
    members: dict[str, set[int]] = {}
    for i, g in enumerate(group):
        members.setdefault(g, set()).add(i)
    size = len(index)

    def search(proposed: Proposed, exclude: set[int]) -> list[Match]:
        return index.search(proposed.title, proposed.description, limit=POOL, exclude=exclude)

    def candidate(m: Match) -> Candidate:
        return Candidate(m.doc_id, m.score, texts[m.doc_id][0], cosine=m.cosine)

    out = []
    for qi in query_ids:
        proposed = Proposed(*texts[qi])
        dups = members[group[qi]]
        out.append(labelled(search, candidate, proposed, qi, dups, size, fit=fit_half(group[qi])))
    return out


def build(
    method: str,
    docs: list[dict[str, str]],
    padding: list[dict[str, str]],
    size: int,
    embeddings: Path | None = None,
) -> tuple[SimilarityIndex, list[tuple[str, str]], list[str]]:
    """The engine over the reports padded to ``size`` entries, as the protocol says; the
    semantic method's embeddings are read from (and added to) ``embeddings`` when given."""
    store = docs + padding[: max(0, size - len(docs))]
    index = SimilarityIndex(method)
    kept = 0
    if embeddings is not None and index.semantic is not None:
        kept = index.semantic.persist_to(embeddings)
    index.add_many((i, d["title"], d["description"]) for i, d in enumerate(store))
    if len(index) >= kept:  # a smaller store would write a file with fewer embeddings
        index.save()
    texts = [(d["title"], d["description"]) for d in store]
    return index, texts, [d.get("group", d["id"]) for d in store]


def load(data_dir: Path) -> tuple[list[dict[str, str]], list[dict[str, str]], list[str]]:
    """(reports, padding texts, query ids) of the data folder."""

    def read(p: Path) -> list[dict[str, str]]:
        with p.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    docs = read(data_dir / "dev" / "docs.jsonl")
    padding = read(data_dir / "padding.jsonl")
    queries = (data_dir / "dev" / "queries.txt").read_text().split()
    return docs, padding, queries


def collect(
    data_dir: Path,
    sizes: Sequence[int],
    method: str,
    cache: Path | None,
    embeddings: Path | None = None,
) -> dict[int, list[Labelled]]:
    """The pools of every query at every size (from ``cache`` when it holds them)."""
    if cache is not None and cache.exists():
        with cache.open("rb") as f:
            cached = {s: [Labelled(*q) for q in qs] for s, qs in pickle.load(f).items()}
        if all(s in cached for s in sizes):
            return {s: cached[s] for s in sizes}
    docs, padding, query_ids = load(data_dir)
    key = {d["id"]: i for i, d in enumerate(docs)}
    by_size = {}
    for size in sizes:
        t0 = time.perf_counter()
        index, texts, group = build(method, docs, padding, size, embeddings)
        by_size[size] = pools(index, texts, group, [key[q] for q in query_ids])
        print(f"pools at {len(index)} stored: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        del index
    if cache is not None:
        with cache.open("wb") as f:
            # Plain tuples: the file loads whether this module runs as a script or is imported.
            plain = {s: [astuple_shallow(q) for q in qs] for s, qs in by_size.items()}
            pickle.dump(plain, f)
    return by_size


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--method", choices=["lexical", "semantic"], default="lexical")
    ap.add_argument("--write", action="store_true", help=f"store the model in {MODEL_FILE}")
    ap.add_argument("--pools-cache", type=Path, help="keep the searched pools in this file")
    ap.add_argument(
        "--embeddings", type=Path, help="keep the semantic method's embeddings in this file"
    )
    ap.add_argument(
        "--false-warnings",
        type=float,
        default=TARGET_FALSE_WARNINGS,
        help="highest false-warning rate the cut-off may give on the fitting half",
    )
    args = ap.parse_args(argv)

    by_size = collect(args.data_dir, args.sizes, args.method, args.pools_cache, args.embeddings)
    fit = {s: [q for q in qs if q.fit] for s, qs in by_size.items()}
    held = {s: [q for q in qs if not q.fit] for s, qs in by_size.items()}
    x, y = pairs([q for qs in fit.values() for q in qs], features_for(args.method))
    w = fit_logistic(x, y)
    model = choose_cutoffs(w, fit, method=args.method, false_warnings=args.false_warnings)
    report: dict[str, Any] = {"fit": {}, "held_out": {}}
    for name, part in (("fit", fit), ("held_out", held)):
        for size, qs in part.items():
            report[name][str(qs[0].store_size if qs else size)] = evaluate(model, qs)
    about = {
        "fitted_on": "similarity data folder, dev duplicate groups with fit_half(group) true",
        "pairs": len(y),
        "positives": int(y.sum()),
        "sizes": [qs[0].store_size for qs in by_size.values() if qs],
        "targets": {"precision": TARGET_PRECISION, "false_warnings": args.false_warnings},
        "report": report,
    }
    model = WarningModel(**{**model.__dict__, "about": about})
    print(json.dumps(model.to_json(), indent=2))
    if args.write:
        shipped = json.loads(MODEL_PATH.read_text()) if MODEL_PATH.exists() else {}
        shipped[args.method] = model.to_json()
        MODEL_PATH.write_text(json.dumps(shipped, indent=2) + "\n")
        print(f"written: {MODEL_PATH.name} [{args.method}]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
