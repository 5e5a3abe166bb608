"""Fit the similar-proposal warning (bot/similarity/warning_model.json) on labelled duplicates.

Usage::

    python scripts/fit_warning.py DATA_DIR [--sizes 10000 100000] [--method lexical|semantic]
        [--write] [--pools-cache FILE]

DATA_DIR is the similarity data folder (``dev/docs.jsonl``, ``dev/queries.txt``,
``padding.jsonl``; see its README). The duplicate groups are split in two halves by a hash of
the group id (``fit_half``): the model is fitted on the queries of one half and reported on
the other, so the figures printed for the held-out half are honest. For every query and store
size the engine's best ``POOL`` matches are taken twice: as found (the query's duplicates
present), and with the query's whole group removed (a proposal with no duplicate). Each of the
best ``SHOWN`` candidates is a labelled pair: 1 when it is of the query's group.

A logistic regression (Newton's method, a little L2) is fitted on those pairs; the cut-offs
``warn_at`` and ``show_at`` are then chosen on the fitting half: the highest warning recall
whose precision and false-warning rate meet the targets at every size. ``--write`` stores the
result in the package; without it the script only prints.

The functions here are also what ``csi-bot similar --calibrate`` uses on a register's pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.similarity import SimilarityIndex
from bot.similarity.warning import (
    FEATURES,
    MODEL_FILE,
    POOL,
    SHOWN,
    Candidate,
    Proposed,
    WarningModel,
    pair_features,
)

MODEL_PATH = Path(__file__).resolve().parents[1] / "bot" / "similarity" / MODEL_FILE
L2 = 1e-3
# Targets the cut-offs are chosen for on the fitting half (a little stricter than the goals:
# precision >= 0.80 and false warnings <= 15% on the held-out half).
TARGET_PRECISION = 0.83
TARGET_FALSE_WARNINGS = 0.14
# Cut-offs tried: probabilities from 2% to 90%, evenly on a log scale (positives are rare among
# the judged pairs, so useful cut-offs are low).
CUTOFFS = tuple(round(float(c), 4) for c in np.exp(np.linspace(np.log(0.02), np.log(0.9), 80)))
SHOW_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)


def fit_half(group: str) -> bool:
    """True for the groups the model is fitted on, False for the held-out half."""
    return hashlib.sha1(group.encode()).digest()[0] % 2 == 0


@dataclass
class Query:
    """One query of the protocol: its text, the pools found, and which candidates are right."""

    proposed: Proposed
    found: list[Candidate]  # the engine's best POOL, the query itself excluded
    novel: list[Candidate]  # the same with the query's whole group excluded
    right: frozenset[int]  # doc ids of its duplicates
    store_size: int
    fit: bool


def astuple_shallow(q: Query) -> tuple[Any, ...]:
    """The fields of a query, in order (its candidates stay objects)."""
    return tuple(getattr(q, f.name) for f in fields(q))


def pools(
    index: SimilarityIndex,
    texts: Sequence[tuple[str, str]],
    group: Sequence[str],
    query_ids: Sequence[int],
) -> list[Query]:
    """Search every query twice (duplicates present / removed) and keep the pools."""
    members: dict[str, set[int]] = {}
    for i, g in enumerate(group):
        members.setdefault(g, set()).add(i)
    out = []
    for qi in query_ids:
        title, description = texts[qi]
        found = index.search(title, description, limit=POOL, exclude=(qi,))
        novel = index.search(title, description, limit=POOL, exclude=members[group[qi]])
        out.append(
            Query(
                proposed=Proposed(title, description),
                found=[Candidate(m.doc_id, m.score, texts[m.doc_id][0]) for m in found],
                novel=[Candidate(m.doc_id, m.score, texts[m.doc_id][0]) for m in novel],
                right=frozenset(members[group[qi]] - {qi}),
                store_size=len(index),
                fit=fit_half(group[qi]),
            )
        )
    return out


def pairs(queries: Sequence[Query]) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of the judged candidates of every query, in both conditions."""
    rows: list[list[float]] = []
    labels: list[float] = []
    for q in queries:
        for cands in (q.found, q.novel):
            feats = pair_features(q.proposed, cands, store_size=q.store_size)
            for cand, f in zip(cands[:SHOWN], feats, strict=False):
                rows.append([f[name] for name in FEATURES])
                labels.append(1.0 if cand.doc_id in q.right else 0.0)
    return np.array(rows), np.array(labels)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float = L2, prior: np.ndarray | None = None
) -> np.ndarray:
    """Weights (intercept first) of an L2-penalised logistic regression, by Newton's method.

    The penalty pulls the weights toward ``prior`` (zero when None): with few pairs, a refit
    moves the shipped model only as far as the data supports.
    """
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1]) if prior is None else prior.copy()
    centre = np.zeros_like(w) if prior is None else prior
    penalty = np.full(len(w), l2 * len(y))
    penalty[0] = 0.0 if prior is None else penalty[0]
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -40, 40)))
        grad = xb.T @ (p - y) + penalty * (w - centre)
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def as_model(w: np.ndarray, *, warn_at: float, show_at: float, method: str) -> WarningModel:
    """The weights as a model with its cut-offs."""
    return WarningModel(
        intercept=float(w[0]),
        coefficients={n: float(c) for n, c in zip(FEATURES, w[1:], strict=True)},
        warn_at=warn_at,
        show_at=show_at,
        method=method,
    )


def probabilities(model: WarningModel, q: Query, cands: list[Candidate]) -> list[float]:
    """The model's probability for each judged candidate of a pool."""
    feats = pair_features(q.proposed, cands, store_size=q.store_size)
    return [model.probability(f) for f in feats[:SHOWN]]


@dataclass
class Judged:
    """A query's candidates as the model judged them (the cut-offs are applied later)."""

    found: list[float]  # probability of each judged candidate, duplicates present
    right: list[bool]  # which of them are duplicates
    novel: list[float]  # probabilities with the duplicates removed


def judge(model: WarningModel, queries: Sequence[Query]) -> list[Judged]:
    """The model's probabilities for every query, in both conditions."""
    return [
        Judged(
            found=probabilities(model, q, q.found),
            right=[c.doc_id in q.right for c in q.found[:SHOWN]],
            novel=probabilities(model, q, q.novel),
        )
        for q in queries
    ]


def rates(judged: Sequence[Judged], warn_at: float, show_at: float) -> dict[str, float]:
    """Warning recall, precision and false-warning rate (novel condition) at the cut-offs."""
    warned = right = false = 0
    for j in judged:
        if j.found and max(j.found) >= warn_at:
            warned += 1
            right += any(r for p, r in zip(j.found, j.right, strict=True) if p >= show_at)
        false += bool(j.novel) and max(j.novel) >= warn_at
    n = max(len(judged), 1)
    return {
        "queries": len(judged),
        "warned": round(warned / n, 4),
        "recall": round(right / n, 4),
        "precision": round(right / max(warned, 1), 4),
        "false_warnings": round(false / n, 4),
    }


def evaluate(model: WarningModel, queries: Sequence[Query]) -> dict[str, float]:
    """Warning recall, precision and false-warning rate of a model on the queries."""
    return rates(judge(model, queries), model.warn_at, model.show_at)


def choose_cutoffs(
    w: np.ndarray,
    by_size: dict[int, list[Query]],
    *,
    method: str,
    precision: float = TARGET_PRECISION,
    false_warnings: float = TARGET_FALSE_WARNINGS,
) -> WarningModel:
    """The cut-offs with the best worst-size recall whose precision and false-warning rate meet
    the targets at every size (the strictest warn_at tried when none does)."""
    probe = as_model(w, warn_at=0.5, show_at=0.5, method=method)
    judged = [judge(probe, qs) for qs in by_size.values()]
    best: tuple[float, float, float] | None = None
    for warn_at in CUTOFFS:
        for show_at in (round(warn_at * f, 4) for f in SHOW_FRACTIONS):
            stats = [rates(j, warn_at, show_at) for j in judged]
            if all(
                s["precision"] >= precision and s["false_warnings"] <= false_warnings
                for s in stats
            ):
                recall = min(s["recall"] for s in stats)
                if best is None or recall > best[0] + 1e-9:
                    best = (recall, warn_at, show_at)
    warn_at, show_at = (CUTOFFS[-1], CUTOFFS[-1]) if best is None else best[1:]
    return as_model(w, warn_at=warn_at, show_at=show_at, method=method)


def build(
    method: str, docs: list[dict[str, str]], padding: list[dict[str, str]], size: int
) -> tuple[SimilarityIndex, list[tuple[str, str]], list[str]]:
    """The engine over the reports padded to ``size`` entries, as the protocol says."""
    store = docs + padding[: max(0, size - len(docs))]
    index = SimilarityIndex(method)
    index.add_many((i, d["title"], d["description"]) for i, d in enumerate(store))
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
    data_dir: Path, sizes: Sequence[int], method: str, cache: Path | None
) -> dict[int, list[Query]]:
    """The pools of every query at every size (from ``cache`` when it holds them)."""
    if cache is not None and cache.exists():
        with cache.open("rb") as f:
            cached = {s: [Query(*q) for q in qs] for s, qs in pickle.load(f).items()}
        if all(s in cached for s in sizes):
            return {s: cached[s] for s in sizes}
    docs, padding, query_ids = load(data_dir)
    key = {d["id"]: i for i, d in enumerate(docs)}
    by_size = {}
    for size in sizes:
        t0 = time.perf_counter()
        index, texts, group = build(method, docs, padding, size)
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
    args = ap.parse_args(argv)

    by_size = collect(args.data_dir, args.sizes, args.method, args.pools_cache)
    fit = {s: [q for q in qs if q.fit] for s, qs in by_size.items()}
    held = {s: [q for q in qs if not q.fit] for s, qs in by_size.items()}
    x, y = pairs([q for qs in fit.values() for q in qs])
    w = fit_logistic(x, y)
    model = choose_cutoffs(w, fit, method=args.method)
    report: dict[str, Any] = {"fit": {}, "held_out": {}}
    for name, part in (("fit", fit), ("held_out", held)):
        for size, qs in part.items():
            report[name][str(qs[0].store_size if qs else size)] = evaluate(model, qs)
    about = {
        "fitted_on": "similarity data folder, dev duplicate groups with fit_half(group) true",
        "pairs": len(y),
        "positives": int(y.sum()),
        "sizes": [qs[0].store_size for qs in by_size.values() if qs],
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
