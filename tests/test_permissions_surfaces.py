"""Every privileged action, tried by someone outside the steering group through every surface
the bot offers: none succeeds.

The surfaces are not listed by hand: they are collected from the app as it is built (every
action_id, callback_id, command, event and options request a listener is registered for), from
the words `/improve` knows and from the words a card's thread knows. Each must be classified
below as public (anyone may use it, with the reason) or privileged (with an attempt by an
outsider that must change nothing); a new surface that is neither fails the first test.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App
from slack_sdk import WebClient
from sqlmodel import select

from bot import thread_replies
from bot.command_text import Word
from bot.ids import ActionId, BenefitBlockId, BlockId, CallbackId, DecisionBlockId, ObjectiveBlockId
from storage.db import session_scope
from storage.lifecycle_tables import BenefitCheck
from storage.models import Objective, Proposal
from storage.types import utcnow
from tests.botproc import PROPOSALS_CHANNEL
from tests.conftest import Stack

pytestmark = pytest.mark.reliability

OUTSIDER = "UOUTSIDE1"  # in the workspace, not in the steering group (the stack's is USTEER)
SUBMITTER = "USUBMIT01"
OWNER = "UOWNER001"

# ---- the surfaces, as the app registers them ----------------------------------------------
_KINDS = ("action", "view", "command", "event", "options", "shortcut", "message")
_KNOWN_IDS = [*ActionId, *CallbackId]


def _names(kind: str, constraint: Any) -> set[str]:
    """The surface names one listener constraint stands for."""
    if isinstance(constraint, dict):
        constraint = constraint.get("action_id") or constraint.get("callback_id") or constraint
    if isinstance(constraint, re.Pattern):
        found = {f"{kind}:{v}" for v in _KNOWN_IDS if constraint.fullmatch(str(v))}
        return found or {f"{kind}:{constraint.pattern}"}
    return {f"{kind}:{constraint}"}


def registered_surfaces(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> set[str]:
    """Build the real app with every listener registration recorded."""
    from bot.app import build_app
    from bot.deps import Deps
    from bot.settings import Settings
    from bot.steering import SteeringGroup
    from storage.db import make_engine

    seen: set[str] = set()
    for kind in _KINDS:
        original = getattr(App, kind)

        def recording(self: App, *args: Any, _kind: str = kind, _orig: Any = original, **kw: Any):
            for constraint in args[:1] or [kw.get("constraints") or kw.get("keyword")]:
                seen.update(_names(_kind, constraint))
            return _orig(self, *args, **kw)

        monkeypatch.setattr(App, kind, recording)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("CSI_PROPOSALS_CHANNEL", PROPOSALS_CHANNEL)
    settings = Settings.load(env_file=None)
    client = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/")
    engine = make_engine(f"sqlite:///{tmp_path / 'surfaces.db'}")
    try:
        build_app(
            Deps(settings=settings, engine=engine, steering=SteeringGroup(settings, client)), client
        )
    finally:
        engine.dispose()
    seen.update(f"word:{word}" for word in Word)
    seen.update(f"thread:{word}" for word in thread_words())
    return seen


def thread_words() -> set[str]:
    """The words a card's thread acts on, found by asking its parser."""
    from bot.lifecycle import Status

    candidates = {*map(str, Word), *thread_replies._WORDS, *(s.value for s in Status)}
    return {
        word
        for word in candidates
        if thread_replies.parse(word) or thread_replies.parse(f"{word} <@U0000001>")
    }


# Anyone may use these; the reason says why that is safe.
PUBLIC: dict[str, str] = {
    "command:/improve": "the command itself; its words are classified one by one",
    "word:help": "reads",
    "word:list": "reads",
    "word:objectives": "reads",
    "word:top": "reads",
    "word:why": "reads",
    "word:show": "reads",
    "word:history": "reads",
    "word:approve": "only says where decisions happen (the card's thread)",
    "word:reject": "only says where decisions happen",
    "word:defer": "only says where decisions happen",
    "word:assign": "only says where decisions happen",
    "word:poll": "only says where polls happen",
    "word:digest": "only says where the digest is",
    "word:sla": "only says where service levels are managed",
    "view:proposal_modal": "anyone proposes; editing another's proposal is tried below",
    "view:similar_choice_modal": "the chooser's own held form; another's is tried below",
    "action:title_input": "looks up similar proposals",
    "action:vote_instead": "a vote of one's own",
    "action:open_proposal": "opens the form",
    "action:propose_improvement": "opens the form pre-filled",
    "action:propose_from_home": "opens the form",
    "event:reaction_added": "a vote of one's own",
    "event:reaction_removed": "withdraws one's own vote",
    "event:app_home_opened": "shows one's own Home tab",
    "event:message": "a thread reply: its steering words are classified one by one",
    "options:input": "lists the active objectives",
    "options:choose_objective": "lists the active objectives",
    "options:manage_objective": "lists the objectives (choosing one is privileged)",
}


# ---- what a privileged attempt works on ---------------------------------------------------
@dataclass
class Seeded:
    proposal_id: int
    card_ts: str
    objective_id: int


def _seed(stack: Stack, *, status: str = "open", **fields: Any) -> Seeded:
    """A proposal with its card in the proposals channel, by SUBMITTER, owned by OWNER."""
    card_ts = f"{time.time():.6f}"
    with session_scope(stack.engine) as session:
        found = select(Objective).where(Objective.title == "Keep the lights on")
        objective = session.exec(found).first()
        if objective is None:
            objective = Objective(title="Keep the lights on")
            session.add(objective)
            session.flush()
        proposal = Proposal(
            title=f"Permission probe {card_ts}",
            submitter=SUBMITTER,
            owner=OWNER,
            status=status,
            objective_id=objective.id,
            channel_id=PROPOSALS_CHANNEL,
            message_ts=card_ts,
            **fields,
        )
        session.add(proposal)
        session.flush()
        assert proposal.id is not None and objective.id is not None
        if status == "implemented":  # the owner has been asked for the measured result
            session.add(BenefitCheck(proposal_id=proposal.id, due_from=utcnow(), owner=OWNER))
        seeded = Seeded(proposal.id, card_ts, objective.id)
    stack.slack.add_message(PROPOSALS_CHANNEL, card_ts, text="card", user="UBOT")
    return seeded


def _state(stack: Stack) -> str:
    """Everything a privileged action could change, as one comparable text."""
    tables = [
        "proposals",
        "objectives",
        "votes",
        "proposal_links",
        "audit_entries",
        "benefit_checks",
    ]
    from sqlalchemy import text

    with stack.engine.connect() as connection:
        return json.dumps(
            {
                t: [list(map(str, row)) for row in connection.execute(text(f"SELECT * FROM {t}"))]
                for t in tables
            }
        )


def _button(action_id: str, value: str) -> Callable[[Stack, str, Seeded], Any]:
    def attempt(stack: Stack, user: str, seeded: Seeded) -> Any:
        return stack.driver.block_actions(
            [{"action_id": action_id, "value": value.format(p=seeded.proposal_id)}],
            user_id=user,
            channel_id=PROPOSALS_CHANNEL,
            message={"type": "message", "ts": seeded.card_ts, "text": "card"},
        )

    return attempt


def _select(action_id: str, block_id: str) -> Callable[[Stack, str, Seeded], Any]:
    def attempt(stack: Stack, user: str, seeded: Seeded) -> Any:
        option = {"value": str(seeded.objective_id), "text": {"type": "plain_text", "text": "o"}}
        return stack.driver.block_actions(
            [
                {
                    "type": "static_select",
                    "action_id": action_id,
                    "block_id": block_id.format(p=seeded.proposal_id),
                    "selected_option": option,
                }
            ],
            user_id=user,
        )

    return attempt


def _modal(
    callback_id: str, values: dict[str, str], meta: str
) -> Callable[[Stack, str, Seeded], Any]:
    def attempt(stack: Stack, user: str, seeded: Seeded) -> Any:
        return stack.driver.view_submission(
            {"callback_id": callback_id},
            user_id=user,
            state_values={b: {ActionId.INPUT: _input(v, seeded)} for b, v in values.items()},
            private_metadata=meta.format(p=seeded.proposal_id, o=seeded.objective_id),
        )

    return attempt


def _input(value: str, seeded: Seeded) -> Any:
    """A typed value; "objective" is the seeded objective chosen in a select."""
    if value == "objective":
        option = {"value": str(seeded.objective_id), "text": {"type": "plain_text", "text": "o"}}
        return {"type": "static_select", "selected_option": option}
    return value.format(p=seeded.proposal_id)


def _slash(text: str) -> Callable[[Stack, str, Seeded], Any]:
    def attempt(stack: Stack, user: str, seeded: Seeded) -> Any:
        return stack.driver.slash_command(
            text.format(p=seeded.proposal_id, o=seeded.objective_id), user_id=user
        )

    return attempt


def _thread(text: str) -> Callable[[Stack, str, Seeded], Any]:
    def attempt(stack: Stack, user: str, seeded: Seeded) -> Any:
        return stack.driver.message(user, text, PROPOSALS_CHANNEL, thread_ts=seeded.card_ts)

    return attempt


@dataclass(frozen=True)
class Privileged:
    """An attempt, the proposal's status it needs, and who may do it (the control)."""

    attempt: Callable[[Stack, str, Seeded], Any]
    status: str = "open"
    allowed: str = "USTEER"
    fields: tuple[tuple[str, Any], ...] = ()


PRIVILEGED: dict[str, Privileged] = {
    "action:decision_approve": Privileged(_button(ActionId.APPROVE, "{p}")),
    "action:decision_reject": Privileged(_button(ActionId.REJECT, "{p}")),
    "action:decision_defer": Privileged(_button(ActionId.DEFER, "{p}")),
    "action:start_work": Privileged(
        _button(ActionId.START_WORK, "{p}"), status="approved", allowed=OWNER
    ),
    "action:mark_implemented": Privileged(
        _button(ActionId.MARK_IMPLEMENTED, "{p}"), status="in_progress", allowed=OWNER
    ),
    "action:reopen_proposal": Privileged(_button(ActionId.REOPEN, "{p}"), status="rejected"),
    "action:stale_keep": Privileged(_button(ActionId.STALE_KEEP, "{p}")),
    "action:stale_park": Privileged(_button(ActionId.STALE_PARK, "{p}")),
    "action:stale_withdraw": Privileged(_button(ActionId.STALE_WITHDRAW, "{p}")),
    "action:discard_proposal": Privileged(
        _button(ActionId.DISCARD, "{p}"), status="needs_objective", allowed=SUBMITTER
    ),
    "action:choose_objective": Privileged(
        _select(ActionId.CHOOSE_OBJECTIVE, "objective:{p}"),
        status="needs_objective",
        allowed=SUBMITTER,
    ),
    # Opens a form only; the form's submission is what changes things (tried below).
    "action:add_details": Privileged(_button(ActionId.ADD_DETAILS, "{p}"), allowed=SUBMITTER),
    "action:record_benefit": Privileged(
        _button(ActionId.RECORD_BENEFIT, "{p}"), status="implemented", allowed=OWNER
    ),
    "action:add_objective": Privileged(_button(ActionId.ADD_OBJECTIVE, "")),
    "action:manage_objective": Privileged(_select(ActionId.MANAGE_OBJECTIVE, "manage")),
    "view:objective_modal": Privileged(
        _modal(
            CallbackId.OBJECTIVE,
            {ObjectiveBlockId.TITLE: "Renamed by {p}", ObjectiveBlockId.WEIGHT: "5"},
            '{{"objective_id": {o}}}',
        )
    ),
    "view:reject_reason_modal": Privileged(
        _modal(CallbackId.REJECT_REASON, {DecisionBlockId.REASON: "no"}, '{{"proposal_id": {p}}}')
    ),
    "view:defer_reason_modal": Privileged(
        _modal(CallbackId.DEFER_REASON, {DecisionBlockId.REASON: "later"}, '{{"proposal_id": {p}}}')
    ),
    "view:benefit_modal": Privileged(
        _modal(CallbackId.BENEFIT, {BenefitBlockId.MEASURED: "12"}, '{{"proposal_id": {p}}}'),
        status="implemented",
        allowed=OWNER,
        fields=(("kpi", "Minutes to restore"), ("kpi_baseline", 60.0), ("kpi_target", 15.0)),
    ),
    "view:proposal_modal (edit)": Privileged(
        _modal(
            CallbackId.PROPOSAL,
            {
                BlockId.TITLE: "Taken over by someone else {p}",
                BlockId.OBJECTIVE: "objective",
                BlockId.VALUE: "5",
            },
            '{{"proposal_id": {p}}}',
        ),
        allowed=SUBMITTER,
    ),
    "word:merge": Privileged(_slash("merge {p} into 1")),
    "word:objective": Privileged(_slash("objective add Objective by an outsider {p}")),
    "word:status": Privileged(_slash("status {p} approved")),
    "word:withdraw": Privileged(_slash("withdraw {p}"), allowed=SUBMITTER),
    "thread:approve": Privileged(_thread("approve")),
    "thread:reject": Privileged(_thread("reject not now")),
    "thread:defer": Privileged(_thread("defer next quarter")),
    "thread:assign": Privileged(_thread(f"assign <@{OUTSIDER}>")),
}
# Surfaces that are public as a whole but hold a privileged use, tried under another name.
_EXTRA = {"view:proposal_modal (edit)"}


def test_every_surface_is_classified(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    surfaces = registered_surfaces(monkeypatch, tmp_path)
    classified = set(PUBLIC) | (set(PRIVILEGED) - _EXTRA)
    unclassified = sorted(surfaces - classified)
    assert not unclassified, (
        f"new surfaces {unclassified}: add each to PUBLIC (with why anyone may use it) or to "
        "PRIVILEGED (with an attempt by an outsider) in this file"
    )
    gone = sorted(classified - surfaces)
    assert not gone, f"classified surfaces the app no longer has: {gone}"


def _settled(stack: Stack) -> str:
    """The state once work after the ack has run (it is quick; a refusal runs none)."""
    time.sleep(0.2)
    return _state(stack)


@pytest.mark.e2e
@pytest.mark.parametrize("surface", sorted(PRIVILEGED))
def test_an_outsider_changes_nothing_and_the_rightful_person_can(
    stack: Stack, surface: str
) -> None:
    case = PRIVILEGED[surface]
    seeded = _seed(stack, status=case.status, **dict(case.fields))
    before = _settled(stack)
    reply = case.attempt(stack, OUTSIDER, seeded)
    assert reply.status < 500, reply.body
    after = _settled(stack)
    assert after == before, f"{surface}: an outsider changed the register"
    # The same attempt by the person allowed to make it: it is a real attempt, not a typo.
    opened = len(stack.slack.calls("views.open"))
    reply = case.attempt(stack, case.allowed, seeded)
    assert reply.status < 500, reply.body
    changed = _settled(stack) != after or len(stack.slack.calls("views.open")) > opened
    assert changed, f"{surface}: {case.allowed} could not do it either ({reply.body[:300]})"
