"""The similar-proposal warning: when it fires, what it says, and refitting it on a register."""

from __future__ import annotations

import json
import os
import random
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot import proposals
from bot.blocks.similar import CHOICE_NEW, similar_choice_view, similar_notice
from bot.drafts import ProposalDraft
from bot.similar_proposals import SimilarMatch, SimilarProposals
from bot.similarity import SimilarityIndex
from bot.similarity.warning import (
    POOL,
    SAME_SERVICE_AND_OBJECTIVE,
    SAME_TITLE_WORDS,
    Candidate,
    Decision,
    Proposed,
    WarningModel,
    decide,
    model_for,
    shipped_model,
)
from bot.similarity.warning import _title_terms as title_terms
from storage.db import session_scope
from tests.botproc import run_cli

# A small register of an IT department: (title, description, service).
REGISTER = [
    (
        "Automate TLS certificate renewal on the web servers",
        "Certificates on the public web servers are renewed by hand and expired twice last "
        "year, taking the shop offline for hours.",
        "Web hosting",
    ),
    (
        "Reduce the ticket backlog of the service desk",
        "Tickets wait four days on average before anyone reads them.",
        "Service desk",
    ),
    (
        "Self-service password reset for staff",
        "A third of all calls to the service desk are forgotten passwords.",
        "Service desk",
    ),
    ("Monitor disk space on the file servers", "Shares fill up without warning.", "File storage"),
    ("Patch laptops within a week of a release", "Patches take a month to arrive.", "Workplace"),
    ("Archive mailboxes of people who left", "Old mailboxes use a quarter of the storage.", "Mail"),
    ("Single sign-on for the HR system", "People keep one more password for HR.", "HR system"),
    ("Back up the CRM database every night", "The CRM is backed up weekly.", "CRM"),
    ("Faster VPN for the branch offices", "The VPN is slow in the afternoon.", "Network"),
    ("Printer queue clean-up", "Stuck print jobs block the floor printers.", "Workplace"),
    (
        "Knowledge base articles for common requests",
        "Agents answer the same questions.",
        "Service desk",
    ),
    ("Dashboard of open incidents per service", "Nobody sees the incident load.", "Monitoring"),
]
SERVICE_DESK_OBJECTIVE = 1


def _index() -> SimilarityIndex:
    index = SimilarityIndex()
    index.add_many((i, title, text) for i, (title, text, _) in enumerate(REGISTER))
    return index


def _decide(proposed: Proposed) -> Decision:
    index = _index()
    cands = [
        Candidate(m.doc_id, m.score, REGISTER[m.doc_id][0], REGISTER[m.doc_id][2], 1)
        for m in index.search(proposed.title, proposed.description, limit=POOL)
    ]
    model = shipped_model("lexical")
    assert model is not None
    return decide(proposed, cands, store_size=len(index), model=model)


def test_an_obvious_rewording_warns_and_says_the_titles_share_words() -> None:
    warning = _decide(
        Proposed(
            "Automatic renewal of TLS certificates for web servers",
            "We renew the certificates of the web servers by hand; when one expires the shop "
            "goes offline.",
            service="Web hosting",
            objective_id=1,
        )
    )
    assert warning.warn
    first = warning.shown[0]
    assert first.doc_id == 0
    assert SAME_TITLE_WORDS in first.reasons
    assert SAME_SERVICE_AND_OBJECTIVE in first.reasons


def test_an_unrelated_proposal_on_the_same_service_and_objective_does_not_warn() -> None:
    warning = _decide(
        Proposed(
            "Dark mode for the service desk portal",
            "Agents work night shifts and the bright portal tires their eyes.",
            service="Service desk",
            objective_id=SERVICE_DESK_OBJECTIVE,
        )
    )
    assert not warning.warn
    assert warning.shown == ()


def test_nothing_stored_nothing_to_warn_about() -> None:
    model = shipped_model("lexical")
    assert model is not None
    assert decide(Proposed("Anything"), [], store_size=0, model=model) == Decision(warn=False)


def test_the_shipped_model_is_read_from_the_package_and_a_wrong_file_is_refused(
    tmp_path: Path,
) -> None:
    model = model_for("lexical")
    assert model is not None and 0 < model.warn_at < 1
    assert model_for("semantic") != model  # each method has its own
    stored = tmp_path / "model.json"
    stored.write_text(json.dumps(model.to_json()))
    assert model_for("lexical", stored) == model
    with pytest.raises(ValueError, match="fitted for the lexical method"):
        model_for("semantic", stored)
    stored.write_text('{"intercept": 1}')
    with pytest.raises(ValueError, match="not a warning model"):
        model_for("lexical", stored)
    with pytest.raises(ValueError, match="cannot read"):
        model_for("lexical", tmp_path / "missing.json")


def _capture(
    engine: Engine, title: str, objective_id: int, service: str, description: str = ""
) -> int:
    with session_scope(engine) as session:
        draft = ProposalDraft(
            title=title, description=description, objective_id=objective_id, service=service
        )
        proposal, _ = proposals.capture(session=session, submitter="U1", draft=draft)
        return proposal.id or 0


def test_the_register_names_why_a_stored_proposal_is_a_likely_duplicate(engine: Engine) -> None:
    with session_scope(engine) as session:
        objective = proposals.add_objective(session=session, title="Stable services").id or 0
    ids = [_capture(engine, t, objective, service, text) for t, text, service in REGISTER]
    index = SimilarProposals()
    with session_scope(engine) as session:
        index.refresh(session=session)
        found = index.similar(
            session=session,
            title="Automatic TLS certificate renewal on web servers",
            service="web hosting",
            objective_id=objective,
        )
        unrelated = index.similar(
            session=session,
            title="Dark mode for the service desk portal",
            service="Service desk",
            objective_id=objective,
        )
    assert [m.proposal.id for m in found][:1] == [ids[0]]
    assert found[0].reasons[:1] == (SAME_TITLE_WORDS,)
    assert SAME_SERVICE_AND_OBJECTIVE in found[0].reasons
    assert unrelated == []


def test_the_warning_shows_its_reasons_and_submitting_anyway_is_one_click() -> None:
    from tests.test_blocks import _summary

    match = SimilarMatch(
        summary=_summary(id=7, status="open"),
        score=0.7,
        reasons=(SAME_TITLE_WORDS, SAME_SERVICE_AND_OBJECTIVE),
    )
    text = json.dumps(similar_notice([match], [], vote_emoji="+1"))
    assert "same title words, same service and objective" in text
    view = similar_choice_view(
        matches=[match], related=[], pending_key="k", title="t", vote_emoji="+1"
    )
    choice = view["blocks"][-1]["element"]
    assert choice["initial_option"]["value"] == CHOICE_NEW  # Continue submits it anyway
    assert [o["value"] for o in choice["options"]] == ["vote:7", CHOICE_NEW]


def _cli_env(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CSI_"))}
    return env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'csi.db'}"} | more


# Known duplicates of REGISTER entries (rewordings), as an organisation would list them.
DUPLICATES = {
    0: "TLS certificates on web servers expire: renew them automatically",
    1: "Service desk tickets wait too long before anyone reads them",
    2: "Let staff reset their own passwords",
    3: "Alert before the file server disks are full",
    5: "Archive the mailboxes of leavers",
    7: "Nightly backups of the CRM database",
}


def test_calibrate_refits_the_warning_on_the_registers_pairs_and_the_bot_uses_it(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    url = str(sqlite_engine.url)  # the CLI works on the database the fixture migrated
    with session_scope(sqlite_engine) as session:
        objective = proposals.add_objective(session=session, title="Stable services").id or 0
    ids = [_capture(sqlite_engine, title, objective, service) for title, _, service in REGISTER]
    pairs = ["proposal,duplicate_of"]
    for i, title in DUPLICATES.items():
        dup = _capture(sqlite_engine, title, objective, REGISTER[i][2])
        pairs.append(f"{dup},#{ids[i]}")
    (tmp_path / "pairs.csv").write_text("\n".join(pairs) + "\n")
    env = _cli_env(tmp_path) | {"DATABASE_URL": url}
    out = tmp_path / "model.json"

    result = run_cli(
        "similar", "--calibrate", "pairs.csv", "--output", str(out), env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Refitted the warning on 12 proposals" in result.stdout
    assert f"CSI_WARNING_MODEL={out}" in result.stdout
    refitted = WarningModel.read(out, method="lexical")
    assert refitted.about["calibrated_on"] == "pairs.csv"
    assert refitted.coefficients != model_for("lexical").coefficients  # type: ignore[union-attr]

    used = run_cli(
        "similar",
        "Renew the web servers' TLS certificates automatically",
        "--format",
        "json",
        env=env | {"CSI_WARNING_MODEL": str(out)},
        cwd=tmp_path,
    )
    assert used.returncode == 0, used.stderr
    assert ids[0] in [m["id"] for m in json.loads(used.stdout)]

    out.write_text("{}")
    broken = run_cli("similar", "x", env=env | {"CSI_WARNING_MODEL": str(out)}, cwd=tmp_path)
    assert broken.returncode != 0
    assert "CSI_WARNING_MODEL" in broken.stderr and "Traceback" not in broken.stderr


def test_calibrate_names_the_line_of_an_unknown_proposal(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    (tmp_path / "pairs.csv").write_text("proposal,duplicate_of\n1,2\nREF-404,1\n")
    env = _cli_env(tmp_path) | {"DATABASE_URL": str(sqlite_engine.url)}
    result = run_cli("similar", "--calibrate", "pairs.csv", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "line 2" in result.stderr or "line 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "csi-warning-model.json").exists()


def test_the_fit_recovers_known_weights_and_a_refit_stays_near_its_prior() -> None:
    import numpy as np

    from bot.similarity.calibration import fit_logistic

    rng = np.random.default_rng(7)
    x = rng.normal(size=(4000, 2))
    truth = np.array([-1.0, 2.0, -0.5])
    y = (rng.random(4000) < 1 / (1 + np.exp(-(truth[0] + x @ truth[1:])))).astype(float)
    fitted = fit_logistic(x, y)
    assert np.allclose(fitted, truth, atol=0.15)
    # Ten pairs against a strong prior: the weights barely move from it.
    prior = np.array([0.0, 1.0, 1.0])
    refitted = fit_logistic(x[:10], y[:10], prior=prior, prior_weight=50.0)
    assert np.abs(refitted - prior).max() < 0.2


def test_the_title_cache_stays_small_however_many_titles_are_compared() -> None:
    # A long-running bot compares ever new titles: what it keeps of them must stay bounded
    # well within the bot's memory goal (300 MB with 100,000 proposals).
    rng = random.Random(7)
    words = [f"{a}{b}{c}" for a in "bdgkmprstv" for b in "aeiou" for c in ("n", "rt", "ll", "x")]
    titles = {" ".join(rng.choices(words, k=rng.randint(7, 11))) for _ in range(20_000)}
    title_terms.cache_clear()
    tracemalloc.start()
    try:
        for title in titles:
            title_terms(title)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        title_terms.cache_clear()
    assert held < 5_000_000, f"{held / 1e6:.1f} MB kept for {len(titles)} titles"
