"""Whether a proposal being written gets a "similar proposals" warning, and why.

Pure domain code (no Slack, no database). The engine ranks stored proposals by one score; this
module decides, for the best few of them, whether each is likely the same proposal, from
several signals of the pair:

* ``score``: the engine's similarity score of the whole texts;
* ``lead``: how far the candidate stands above the best *other* candidate (a duplicate stands
  out from the rest of the register; a busy topic gives many near-equal scores);
* ``above_pool``: how far it stands above the last candidate of the pool (the register's
  background level for this wording);
* ``title_words`` and ``title_chars``: the two titles compared on their own (stemmed content
  words; character 3-grams, which survive glued words and typos);
* ``query_words``: how long the new text is (short texts give noisier scores);
* ``store_size``: how many proposals are stored (more stored, more chance resemblance), on a
  log scale and held within ``SIZES``;
* with the semantic method only (``SEMANTIC_FEATURES``), ``cosine``: the cosine of the two
  texts' embeddings (their meaning, whatever the words), and ``cosine_lead``: how far it stands
  above the best *other* candidate's cosine.

A logistic regression turns them into a probability (``WarningModel.probability``). The
coefficients are fitted by ``scripts/fit_warning.py`` on labelled duplicate pairs and shipped
in ``warning_model.json``, one model per similarity method; ``csi-bot similar --calibrate FILE``
refits them on an organisation's own pairs. Nothing is fetched at run time.

Service and objective cannot be fitted (the labelled data has neither): their agreement is only
given as a reason next to a warning, never a cause of one, so that an unrelated proposal on
the same service does not warn (it is shown as "related: coordinate" instead).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from bot.similarity._text import _stem, tokens

__all__ = [
    "FEATURES",
    "POOL",
    "SEMANTIC_FEATURES",
    "Candidate",
    "Decision",
    "Flagged",
    "Proposed",
    "WarningModel",
    "decide",
    "features_for",
    "model_for",
    "pair_features",
    "shipped_model",
]

FEATURES = (
    "score",
    "lead",
    "above_pool",
    "title_words",
    "title_chars",
    "query_words",
    "store_size",
)
# The semantic method's candidates carry the cosine of the two embeddings: its model weighs it
# too.
SEMANTIC_FEATURES = (*FEATURES, "cosine", "cosine_lead")
# Candidates the engine returns for one decision: the best few are judged, the rest give the
# background level (``above_pool``).
POOL = 10
# Candidates judged (and at most shown).
SHOWN = 5
MODEL_FILE = "warning_model.json"
# Register sizes the shipped model was fitted at; a size outside counts as the nearest of them
# (a straight line fitted on 10,000 to 100,000 says nothing reliable about 50 or 10 million).
SIZES = (10_000, 100_000)

# Reasons, in the words the warning uses.
SAME_TITLE_WORDS = "same title words"
SAME_SERVICE_AND_OBJECTIVE = "same service and objective"
CLOSE_WORDING = "much of the same wording"
SAME_MEANING = "much the same meaning"
SIMILAR_WORDING = "similar wording"
STANDS_OUT = "closer than anything else in the register"
# When a reason is named (presentation rules, not fitted): the share of title words in common,
# the whole-text score, and the lead over the next candidate.
TITLE_REASON_AT = 0.5
WORDING_REASON_AT = 0.45
LEAD_REASON_AT = 0.15
# The cosine of the embeddings from which the meaning is named as a reason (semantic method).
MEANING_REASON_AT = 0.75

# Words that say nothing about what a proposal is about; titles are compared without them.
_STOP_WORDS = frozenset(
    """a an and are as at be by can could do does for from has have how i if in into is it its
    nt not of on or should so than that the their then there this to too up us was we when where
    which while will with would you your""".split()  # noqa: SIM905 (a list of 54 words)
)


@dataclass(frozen=True)
class Proposed:
    """The proposal being written: its text, and its service and objective when known."""

    title: str
    description: str = ""
    service: str | None = None
    objective_id: int | None = None


@dataclass(frozen=True)
class Candidate:
    """A stored proposal the engine found, with its score and what the decision compares
    (``cosine``: the semantic method's ``Match.cosine``, None for lexical)."""

    doc_id: int
    score: float
    title: str
    service: str | None = None
    objective_id: int | None = None
    cosine: float | None = None


@dataclass(frozen=True)
class Flagged:
    """A candidate judged likely the same proposal: why, and how likely."""

    doc_id: int
    score: float
    probability: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """Warn or not, and the candidates to show (best first) when warning."""

    warn: bool
    shown: tuple[Flagged, ...] = ()


@dataclass(frozen=True)
class WarningModel:
    """Logistic-regression coefficients over ``FEATURES`` and the two cut-offs on its output.

    ``warn_at``: the best candidate's probability that raises a warning; ``show_at``: the
    probability from which other candidates are shown next to it.
    """

    intercept: float
    coefficients: dict[str, float]
    warn_at: float
    show_at: float
    method: str = "lexical"
    about: dict[str, Any] = field(default_factory=dict, compare=False)

    def probability(self, features: dict[str, float]) -> float:
        """Probability that a candidate with these features is the same proposal."""
        z = self.intercept + sum(w * features[name] for name, w in self.coefficients.items())
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WarningModel:
        """Read the model from its JSON form; a ValueError says what is wrong."""
        try:
            coefficients = {str(k): float(v) for k, v in data["coefficients"].items()}
            model = cls(
                intercept=float(data["intercept"]),
                coefficients=coefficients,
                warn_at=float(data["warn_at"]),
                show_at=float(data["show_at"]),
                method=str(data.get("method", "lexical")),
                about=dict(data.get("about") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a warning model ({exc!r})") from exc
        unknown = set(coefficients) - set(features_for(model.method))
        if unknown:
            raise ValueError(f"not a warning model: unknown features {sorted(unknown)}")
        if not (0 < model.warn_at < 1 and 0 < model.show_at <= model.warn_at):
            raise ValueError("not a warning model: need 0 < show_at <= warn_at < 1")
        return model

    def to_json(self) -> dict[str, Any]:
        """The JSON form ``from_json`` reads."""
        return {
            "method": self.method,
            "intercept": self.intercept,
            "coefficients": self.coefficients,
            "warn_at": self.warn_at,
            "show_at": self.show_at,
            "about": self.about,
        }

    @classmethod
    def read(cls, path: str | Path, *, method: str) -> WarningModel:
        """The model stored at ``path`` (as ``csi-bot similar --calibrate`` writes it).

        Raises ValueError when the file cannot be read or is not a model for ``method``.
        """
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read the warning model {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path} is not a warning model (expected a JSON object)")
        model = cls.from_json(data)
        if model.method != method:
            raise ValueError(
                f"the warning model {path} was fitted for the {model.method} method, not "
                f"{method}; refit it with csi-bot similar --calibrate"
            )
        return model


def features_for(method: str) -> tuple[str, ...]:
    """The features a model for ``method`` may weigh (the semantic method's add the cosine)."""
    return SEMANTIC_FEATURES if method == "semantic" else FEATURES


@cache
def shipped_model(method: str) -> WarningModel | None:
    """The model shipped in the package for ``method``; None when none is (the single score
    threshold then decides)."""
    text = resources.files("bot.similarity").joinpath(MODEL_FILE).read_text("utf-8")
    data = json.loads(text).get(method)
    return None if data is None else WarningModel.from_json(data)


def model_for(method: str, path: str | Path | None = None) -> WarningModel | None:
    """The model the bot uses: the one stored at ``path`` (a calibrated one), else the one
    shipped for ``method``. Raises ValueError when ``path`` holds no model for ``method``."""
    return shipped_model(method) if path is None else WarningModel.read(path, method=method)


# A title's entry holds its 3-grams and stems as strings: 5 to 7 KB. At 20,000 entries the
# cache grew past 100 MB in a bot that had answered enough searches; 512 keep it under 4 MB
# (2,048 took 14 MB of a bot at 100,000 proposals, whose goal is 300 MB), and a title not in
# it takes some 20 microseconds: a search compares a few dozen.
TITLE_CACHE_SIZE = 512


@lru_cache(maxsize=TITLE_CACHE_SIZE)
def _title_terms(title: str) -> tuple[frozenset[str], frozenset[str]]:
    """(content-word stems, character 3-grams) of a title."""
    toks = tokens(title)
    words = frozenset(_stem(t) for t in toks if t not in _STOP_WORDS)
    joined = f" {' '.join(toks)} "
    grams = frozenset(joined[i : i + 3] for i in range(len(joined) - 2))
    return words, grams


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Cosine of two sets: 1 when equal, 0 when disjoint."""
    if not a or not b:
        return 0.0
    return len(a & b) / math.sqrt(len(a) * len(b))


def pair_features(
    proposed: Proposed, candidates: Sequence[Candidate], *, store_size: int
) -> list[dict[str, float]]:
    """The features of each candidate (best first, as the engine ranked them); the cosine ones
    only when every candidate has its cosine (the semantic method)."""
    scores = [c.score for c in candidates]
    cosines = [c.cosine for c in candidates]
    semantic = all(c is not None for c in cosines)
    floor = scores[-1] if len(scores) >= POOL else 0.0
    q_words, q_grams = _title_terms(proposed.title)
    n_words = len(tokens(proposed.title)) + len(tokens(proposed.description))
    out = []
    for i, cand in enumerate(candidates):
        others = scores[:i] + scores[i + 1 :]
        c_words, c_grams = _title_terms(cand.title)
        out.append(
            {
                "score": cand.score,
                "lead": cand.score - (max(others) if others else 0.0),
                "above_pool": cand.score - floor,
                "title_words": _overlap(q_words, c_words),
                "title_chars": _overlap(q_grams, c_grams),
                "query_words": math.log1p(n_words),
                "store_size": math.log10(min(max(store_size, SIZES[0]), SIZES[1])),
            }
        )
        if semantic:
            cos = [float(c or 0.0) for c in cosines]
            other = cos[:i] + cos[i + 1 :]
            out[-1]["cosine"] = cos[i]
            out[-1]["cosine_lead"] = cos[i] - (max(other) if other else 0.0)
    return out


def _reasons(proposed: Proposed, cand: Candidate, feats: dict[str, float]) -> tuple[str, ...]:
    reasons = []
    if feats["title_words"] >= TITLE_REASON_AT:
        reasons.append(SAME_TITLE_WORDS)
    if (
        proposed.service
        and proposed.objective_id
        and cand.service
        and cand.service.strip().casefold() == proposed.service.strip().casefold()
        and cand.objective_id == proposed.objective_id
    ):
        reasons.append(SAME_SERVICE_AND_OBJECTIVE)
    if feats["score"] >= WORDING_REASON_AT:
        reasons.append(CLOSE_WORDING)
    if feats.get("cosine", 0.0) >= MEANING_REASON_AT:
        reasons.append(SAME_MEANING)
    if feats["lead"] >= LEAD_REASON_AT:
        reasons.append(STANDS_OUT)
    return tuple(reasons)


def decide(
    proposed: Proposed,
    candidates: Sequence[Candidate],
    *,
    store_size: int,
    model: WarningModel,
    judged: int = SHOWN,
) -> Decision:
    """Warn when the likeliest of the best ``judged`` candidates reaches ``model.warn_at``;
    show it and the others of them that reach ``model.show_at``, each with its reasons.

    ``candidates``: the engine's best matches (at least ``POOL`` when the register has them),
    best first. The model was fitted judging ``SHOWN``; more are judged alike. A semantic
    model needs every candidate's ``cosine`` (ValueError otherwise).
    """
    if not candidates or judged <= 0:
        return Decision(warn=False)
    feats = pair_features(proposed, candidates, store_size=store_size)
    missing = set(model.coefficients) - set(feats[0])
    if missing:
        raise ValueError(
            f"the {model.method} warning model needs {sorted(missing)} of every candidate"
        )
    rated = [
        (cand, f, model.probability(f)) for cand, f in zip(candidates[:judged], feats, strict=False)
    ]
    if max(p for _, _, p in rated) < model.warn_at:
        return Decision(warn=False)
    shown = tuple(
        Flagged(
            doc_id=cand.doc_id,
            score=cand.score,
            probability=p,
            reasons=_reasons(proposed, cand, f) or (SIMILAR_WORDING,),
        )
        for cand, f, p in rated
        if p >= model.show_at
    )
    return Decision(warn=True, shown=shown)
