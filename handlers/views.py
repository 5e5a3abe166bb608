"""Modal submissions: the proposal form, and the choice it turns into when similar ones exist.

Each answers Slack with its final word from the request (errors, the choice, or close); the card
and the direct message follow after the ack.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlmodel import Session

from bot import (
    blocks,
    cards,
    confirmations,
    counteracting,
    held_forms,
    home_tab,
    notify,
    payloads,
    proposals,
)
from bot.blocks.counteracting import counteracting_notice
from bot.blocks.votes import vote_given
from bot.deps import Deps
from bot.drafts import ProposalDraft
from bot.errors import BadPayload, CsiError, InvalidInput
from bot.ids import BlockId, CallbackId
from bot.middleware import payload
from bot.modal_state import draft_from_state
from bot.payloads import ViewSubmission
from handlers import decisions as decision_handlers
from handlers import lifecycle
from storage.db import commit_group
from storage.models import Proposal

log = logging.getLogger(__name__)

FORM_BLOCKS = {b.value for b in BlockId}


def modal_errors(exc: CsiError) -> dict[str, str]:
    """Errors keyed by the modal's block IDs; anything else is shown under the title."""
    fields = exc.errors if isinstance(exc, InvalidInput) else {"title": str(exc)}
    errors: dict[str, str] = {}
    for name, message in fields.items():
        block = name if name in FORM_BLOCKS else BlockId.TITLE
        errors[block] = (errors[block] + " " + message) if block in errors else message
    return errors


def _vote_choice(choice: str | None) -> int | None:
    """The similar-choice radio value: `vote:<id>`, or `new` (submit anyway)."""
    if choice == blocks.CHOICE_NEW:
        return None
    if choice and choice.startswith("vote:"):
        return payloads.proposal_number(choice.removeprefix("vote:"))
    raise BadPayload("Choose one of the options.")


def register(app: App, deps: Deps) -> None:
    """Wire the proposal form and the similar-proposal choice."""
    vote_emoji = deps.settings.vote_emoji

    @app.view(CallbackId.PROPOSAL)
    def submit_proposal(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        submission = payload(context, ViewSubmission)
        view, user_id = submission.view, submission.user_id
        draft = draft_from_state(view.values)
        try:
            if view.meta.proposal_id:
                with deps.session() as session:
                    proposal, changed = proposals.edit_details(
                        session=session,
                        proposal_id=view.meta.proposal_id,
                        draft=draft,
                        actor=user_id,
                    )
                    outcome: held_forms.Held | held_forms.Stored = held_forms.Stored(
                        proposal=proposal, created=changed
                    )
                    key = _owe_confirmation(session, outcome, user_id, key=f"edit:{view.id}")
            else:
                outcome, key = _submit_new(deps, draft, user_id, f"view:{view.id}")
        except CsiError as exc:
            ack(response_action="errors", errors=modal_errors(exc))
            return
        if isinstance(outcome, held_forms.Held):
            ack(
                response_action="update",
                view=blocks.similar_choice_view(
                    matches=outcome.matches,
                    related=outcome.related,
                    pending_key=outcome.key,
                    title=draft.title,
                    vote_emoji=vote_emoji,
                ),
            )
            return
        ack()
        if key is not None and outcome.proposal.id is not None:
            # Copies of the same submission store it once, and it is announced once.
            deps.in_card_order(notify_stored, deps, client, outcome.proposal.id, user_id, key)

    @app.view(CallbackId.SIMILAR_CHOICE)
    def submit_choice(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        submission = payload(context, ViewSubmission)
        user_id = submission.user_id
        try:
            key = submission.view.meta.pending
            if not key:
                raise BadPayload(payloads.UNREADABLE_FORM)
            vote_for = _vote_choice(submission.view.value(BlockId.CHOICE))
            with deps.session() as session:
                outcome = held_forms.decide(
                    session=session,
                    similar=deps.similar,
                    key=key,
                    user_id=user_id,
                    vote_for=vote_for,
                )
                told = _owe_confirmation(session, outcome, user_id)
        except CsiError as exc:
            ack(response_action="errors", errors={BlockId.CHOICE: str(exc)})
            return
        # None: this choice was made before (a repeated delivery): it closes the same way.
        ack(response_action="clear")
        if isinstance(outcome, held_forms.Stored) and told is not None:
            deps.in_card_order(notify_stored, deps, client, outcome.proposal.id or 0, user_id, told)
        elif isinstance(outcome, held_forms.Voted):
            deps.later(_tell_vote, deps, client, outcome, user_id)

    @app.view(CallbackId.BENEFIT)
    def submit_benefit(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        # The measured result of an implemented proposal (handlers/lifecycle).
        lifecycle.submit_benefit(ack, client, deps, payload(context, ViewSubmission))

    # The reason asked for by the card's Reject and Defer.
    decision_handlers.register_modals(app, deps)


def _submit_new(
    deps: Deps, draft: ProposalDraft, user_id: str, source_key: str
) -> tuple[held_forms.Held | held_forms.Stored, str | None]:
    """A new proposal's form: read against the register (the similar proposals looked for),
    then stored or held, committed with other requests' writes (storage/db.py, CommitGroup);
    what became of it and the key of the confirmation owed."""
    with deps.session() as session:
        looked = held_forms.look(
            session=session,
            similar=deps.similar,
            draft=draft,
            submitter=user_id,
            source_key=source_key,
        )
    if looked.stored is not None:  # a copy of this submission stored it
        return held_forms.Stored(proposal=looked.stored, created=False), None

    def store(session: Session) -> tuple[held_forms.Held | held_forms.Stored, str | None]:
        outcome = held_forms.store(session=session, similar=deps.similar, looked=looked)
        return outcome, _owe_confirmation(session, outcome, user_id)

    return commit_group(deps.engine, deps.session).run(store)


def _tell_vote(deps: Deps, client: WebClient, outcome: held_forms.Voted, user_id: str) -> None:
    """After the ack: redraw the card that has the new vote and tell the voter."""
    if outcome.vote.added:
        cards.refresh_card(deps=deps, client=client, proposal_id=outcome.summary.proposal.id or 0)
    notify.tell(client, user_id, vote_given(outcome.vote))


def _owe_confirmation(
    session: Session, outcome: object, user_id: str, *, key: str | None = None
) -> str | None:
    """In the transaction that stored the form: record that its author is to be told (the
    outbox tells them if the work after the ack cannot); the confirmation's key, or None.
    A new proposal is confirmed once (`new:<id>`); an edit once per form (`key`)."""
    if not (isinstance(outcome, held_forms.Stored) and outcome.created and outcome.proposal.id):
        return None
    proposal_id = outcome.proposal.id
    key = key or f"new:{proposal_id}"
    confirmations.owe(session=session, key=key, proposal_id=proposal_id, user_id=user_id)
    return key


def notify_stored(
    deps: Deps, client: WebClient, proposal_id: int, user_id: str, confirmation: str
) -> None:
    """After the ack: post the card and tell the submitter where their proposal is (once: the
    `confirmation` owed); flag the proposals it counteracts (on both cards, to both
    submitters)."""
    with deps.session() as session:
        flagged = counteracting.record(session=session, proposal_id=proposal_id)
    cards.post_card(deps=deps, client=client, proposal_id=proposal_id)
    confirmations.tell(deps=deps, client=client, key=confirmation)
    # The Home tab lists the submitter's proposals: show the new one there too.
    HOME_REFRESH.ask(deps, client, user_id)
    if flagged:
        with deps.session() as session:
            summary = proposals.summary(session=session, proposal_id=proposal_id)
        for pair in flagged:
            _tell_counteracting(deps, client, summary.proposal, pair.other)


class HomeRefresh:
    """Home tabs published again after a form, on one thread at a lower priority, at most one
    waiting per person (asked again meanwhile: the one publish shows both).

    Building a Home tab reads the whole register's figures: on 100,000 proposals over half a
    second of processor. After every form, on the background workers, it took the processor
    from the requests being answered (at 50 people, more than the acks themselves). Now it uses
    at most half a core, a round starts at most every `HOME_ROUND_GAP` seconds (so under a
    steady stream of forms it takes a tenth of a core, not half), a burst of forms by one person
    costs one publish, and the Home tabs of everyone waiting are published with one reading of
    the register's figures (only each person's own lists are read for each).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[Deps, WebClient]] = {}
        self._running = False

    def ask(self, deps: Deps, client: WebClient, user_id: str) -> None:
        """Publish the Home tab of `user_id` soon (once, however often asked meanwhile)."""
        with self._lock:
            self._waiting[user_id] = (deps, client)
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name="csi-home-refresh", daemon=True).start()

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: a thread has its own
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HOME_NICENESS)
        while True:
            with self._lock:
                if not self._waiting:
                    self._running = False
                    return
                # Everyone waiting now shares one reading of the register's figures: it is
                # read after their forms were committed. Those asking meanwhile get the next.
                waiting, self._waiting = self._waiting, {}
            started = time.monotonic()
            figures = home_tab.read_figures(next(iter(waiting.values()))[0])
            for user_id, (deps, client) in waiting.items():
                try:
                    home_tab.publish(deps, client, user_id, figures)
                except Exception:  # a bug in one Home tab must not stop the others'
                    log.exception("Home tab of %s not published", user_id)
            # Half the time at most, and a round every HOME_ROUND_GAP seconds at most: on a busy
            # register the rest is left to the requests (a storm of forms shows in Home tabs a
            # few seconds later, each person's once).
            took = time.monotonic() - started
            time.sleep(max(took, HOME_ROUND_GAP - took))


HOME_NICENESS = 10
HOME_ROUND_GAP = 5.0
HOME_REFRESH = HomeRefresh()


def _tell_counteracting(deps: Deps, client: WebClient, mine: Proposal, other: Proposal) -> None:
    """Both submitters learn that their proposals move the same KPI the other way; the earlier
    card is redrawn to say so (the new one was posted saying it)."""
    cards.refresh_card(deps=deps, client=client, proposal_id=other.id or 0)
    notify.tell(client, mine.submitter, *counteracting_notice(mine, other))
    if other.submitter != mine.submitter:
        notify.tell(client, other.submitter, *counteracting_notice(other, mine))
