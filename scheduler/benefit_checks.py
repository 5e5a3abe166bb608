"""The benefit check ("did we get there?"): asks the owner of each proposal implemented
`CSI_BENEFIT_CHECK_DAYS` days ago for the measured result, and reminds them weekly until answered.

Safe on several replicas at once: each question is asked once (a unique key per proposal and
round), each reminder once per week (`repo.claim_job_run`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient

from bot import benefit, notify
from bot.blocks.lifecycle import benefit_question
from bot.deps import Deps
from storage.models import Proposal
from storage.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    """What one run did."""

    asked: int
    reminded: int


def ask_for_benefit(*, deps: Deps, client: WebClient, now: datetime | None = None) -> Sent:
    """Ask every owner whose question is due, and remind those who have not answered for a week.

    `now` is the run's clock (tests pass their own)."""
    now = now or utcnow()
    days = deps.settings.benefit_check_days
    to_ask: list[Proposal] = []
    with deps.session() as session:
        for proposal, due_from in benefit.due(session=session, now=now, delay=timedelta(days=days)):
            if benefit.ask(session=session, proposal=proposal, due_from=due_from, now=now):
                to_ask.append(proposal)
        to_remind = [p for p, _ in benefit.to_remind(session=session, now=now)]
    # The questions are recorded before they are sent: a failed DM is reminded next week
    # rather than asked twice by two replicas.
    asked = sum(_tell(client, p, days=days, reminder=False) for p in to_ask)
    reminded = sum(_tell(client, p, days=days, reminder=True) for p in to_remind)
    if asked or reminded:
        log.info("benefit check: %d owners asked, %d reminded", asked, reminded)
    return Sent(asked=asked, reminded=reminded)


def _tell(client: WebClient, proposal: Proposal, *, days: int, reminder: bool) -> bool:
    text, message = benefit_question(proposal, days=days, reminder=reminder)
    return notify.tell(client, benefit.owner_of(proposal), text, message)
