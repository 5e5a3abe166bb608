"""Fitting the similar-proposal warning on labelled duplicates (``warning.py``'s model).

Used by ``scripts/fit_warning.py`` (the shipped coefficients, from the similarity data folder)
and by ``csi-bot similar --calibrate`` (an organisation's own known duplicate pairs). The bot
itself never fits: it only evaluates the coefficients (``WarningModel.probability``).

A labelled query is a proposal whose duplicates are known. The engine's best ``POOL`` matches
are taken twice: as found (its duplicates present) and with all of its duplicates removed (a
proposal with no duplicate, where any warning is a false one). Each of the best ``SHOWN`` is a
labelled pair: 1 when it is one of the duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.similarity import Match
from bot.similarity.warning import (
    FEATURES,
    SHOWN,
    Candidate,
    Proposed,
    WarningModel,
    features_for,
    pair_features,
)

L2 = 1e-3
# A refit on an organisation's own pairs is pulled toward the shipped model with this weight
# (about as strongly as a few hundred labelled pairs would pull it).
PRIOR_WEIGHT = 50.0
# Fewer known duplicate pairs than this say too little to refit on.
MIN_PAIRS = 5

# Targets the cut-offs are chosen for on the fitting half: at most 15% false warnings on
# proposals with no duplicate, and a precision with some margin over 0.80. Recall is what is
# left: the highest these allow.
TARGET_PRECISION = 0.83
TARGET_FALSE_WARNINGS = 0.15
# Cut-offs tried: probabilities from 2% to 90%, evenly on a log scale (positives are rare among
# the judged pairs, so useful cut-offs are low).
CUTOFFS = tuple(round(float(c), 4) for c in np.exp(np.linspace(np.log(0.02), np.log(0.9), 80)))
# A warning shows the best matches at least this fraction as likely as its cut-off: about two
# on average. Showing all five would be right a little more often (0.88 against 0.85 on the
# fitting half) but asks a person to read more than twice as many.
SHOW_FRACTION = 0.5


@dataclass
class Labelled:
    """A proposal with known duplicates: the pools the engine found, and which are right."""

    proposed: Proposed
    found: list[Candidate]  # the engine's best POOL, the proposal itself excluded
    novel: list[Candidate]  # the same with all of its duplicates excluded
    right: frozenset[int]  # ids of its duplicates
    store_size: int
    fit: bool = True  # in the fitting half (the data folder's split)


def labelled(
    search: Callable[[Proposed, set[int]], list[Match]],
    candidate: Callable[[Match], Candidate],
    proposed: Proposed,
    own: int,
    duplicates: set[int],
    store_size: int,
    fit: bool = True,
) -> Labelled:
    """Search for ``proposed`` (stored as ``own``) twice: duplicates present, then removed."""
    found = search(proposed, {own})
    novel = search(proposed, {own} | duplicates)
    return Labelled(
        proposed=proposed,
        found=[candidate(m) for m in found],
        novel=[candidate(m) for m in novel],
        right=frozenset(duplicates - {own}),
        store_size=store_size,
        fit=fit,
    )


def pairs(
    queries: Sequence[Labelled], features: Sequence[str] = FEATURES
) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of the judged candidates of every query, in both conditions;
    ``features``: the columns, in order (``features_for(method)``)."""
    rows: list[list[float]] = []
    labels: list[float] = []
    for q in queries:
        for cands in (q.found, q.novel):
            feats = pair_features(q.proposed, cands, store_size=q.store_size)
            for cand, f in zip(cands[:SHOWN], feats, strict=False):
                rows.append([f[name] for name in features])
                labels.append(1.0 if cand.doc_id in q.right else 0.0)
    return np.array(rows), np.array(labels)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = L2,
    prior: np.ndarray | None = None,
    prior_weight: float = 0.0,
) -> np.ndarray:
    """Weights (intercept first) of an L2-penalised logistic regression, by Newton's method.

    Without ``prior`` the penalty (``l2`` per pair) pulls the weights toward zero. With it, the
    penalty ``prior_weight`` pulls every weight toward ``prior`` instead: a refit on few pairs
    moves the shipped model only as far as the data supports.
    """
    xb = np.hstack([np.ones((len(x), 1)), x])
    if prior is None:
        centre = np.zeros(xb.shape[1])
        penalty = np.full(len(centre), l2 * len(y))
        penalty[0] = 0.0
    else:
        centre = prior.astype(float)
        penalty = np.full(len(centre), prior_weight)
    w = centre.copy()
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
    """The weights (intercept, then ``features_for(method)`` in order) as a model with its
    cut-offs."""
    return WarningModel(
        intercept=float(w[0]),
        coefficients={n: float(c) for n, c in zip(features_for(method), w[1:], strict=True)},
        warn_at=warn_at,
        show_at=show_at,
        method=method,
    )


def probabilities(model: WarningModel, q: Labelled, cands: list[Candidate]) -> list[float]:
    """The model's probability for each judged candidate of a pool."""
    feats = pair_features(q.proposed, cands, store_size=q.store_size)
    return [model.probability(f) for f in feats[:SHOWN]]


@dataclass
class Judged:
    """A query's candidates as the model judged them (the cut-offs are applied later)."""

    found: list[float]  # probability of each judged candidate, duplicates present
    right: list[bool]  # which of them are duplicates
    novel: list[float]  # probabilities with the duplicates removed


def judge(model: WarningModel, queries: Sequence[Labelled]) -> list[Judged]:
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


def evaluate(model: WarningModel, queries: Sequence[Labelled]) -> dict[str, float]:
    """Warning recall, precision and false-warning rate of a model on the queries."""
    return rates(judge(model, queries), model.warn_at, model.show_at)


def choose_cutoffs(
    w: np.ndarray,
    by_size: dict[int, list[Labelled]],
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
        show_at = round(warn_at * SHOW_FRACTION, 4)
        stats = [rates(j, warn_at, show_at) for j in judged]
        if all(
            s["precision"] >= precision and s["false_warnings"] <= false_warnings for s in stats
        ):
            recall = min(s["recall"] for s in stats)
            if best is None or recall > best[0] + 1e-9:
                best = (recall, warn_at, show_at)
    warn_at, show_at = (CUTOFFS[-1], CUTOFFS[-1]) if best is None else best[1:]
    return as_model(w, warn_at=warn_at, show_at=show_at, method=method)


def refit(queries: Sequence[Labelled], *, base: WarningModel | None, method: str) -> WarningModel:
    """The model refitted on ``queries``: pulled toward ``base`` and keeping its cut-offs, or,
    with no base, fitted afresh with cut-offs chosen on the same queries."""
    features = features_for(method)
    x, y = pairs(queries, features)
    if base is None:
        w = fit_logistic(x, y)
        return choose_cutoffs(w, {0: list(queries)}, method=method)
    prior = np.array([base.intercept, *(base.coefficients.get(n, 0.0) for n in features)])
    w = fit_logistic(x, y, prior=prior, prior_weight=PRIOR_WEIGHT)
    return as_model(w, warn_at=base.warn_at, show_at=base.show_at, method=method)
