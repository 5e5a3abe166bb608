"""The submitter's confirmation that their proposal is in the register: told once.

The transaction that stores a proposal from the form also records its confirmation as owed
(storage/submitter_notices.py), so it survives a database that fails right after the ack, or a
process killed then. The work after the ack tells it at once; the card outbox's run (every
minute, on the scheduler's leader) tells those still owed. Whoever tells one claims it first
(one conditional UPDATE, which one replica or thread wins), then posts it, then marks it sent.

Never twice, never false: it is owed only once the proposal is stored, and a message whose
fate is unknown (Slack answered 5xx or nothing, or the process died holding the claim) is not
sent again, since the bot cannot read what it wrote to a person. Only then can one be lost.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot import blocks, notify, proposals
from bot.deps import Deps
from bot.errors import NotFound
from bot.notify import Delivery
from bot.outbox import card_queued
from storage import submitter_notices as notices
from storage.db import session_scope
from storage.submitter_notices import SubmitterNotice
from storage.types import utcnow

log = logging.getLogger(__name__)

# The work after the ack tells a confirmation within a second or two: the outbox leaves it
# this long first, so that the message can name the card that the same work posts.
SETTLE = timedelta(seconds=20)
SETTLE_WITH_SECONDS = timedelta(seconds=5)  # CSI_CRON_SECONDS (tests): the outbox runs every 5 s
RETRY_RATELIMITED_AFTER = timedelta(minutes=1)
PER_RUN = 50
# A settled confirmation is kept this long (what happened to it can be looked up), then
# forgotten, at most this many a run: Slack retries a request within minutes, not weeks.
KEEP = timedelta(days=30)
FORGET_PER_RUN = 1000


def owe(*, session: Session, key: str, proposal_id: int, user_id: str) -> None:
    """Record, in the transaction that stored the proposal, that its submitter is to be told;
    `key` names the submission (a copy of it owes nothing more)."""
    notices.owe(session=session, key=key, proposal_id=proposal_id, user_id=user_id, now=utcnow())


def tell(*, deps: Deps, client: WebClient, key: str) -> Delivery | None:
    """Tell the confirmation of submission `key` if it is still owed; None when it is not
    (told, being told, not owed) or the database failed (the outbox tells it later)."""
    try:
        with session_scope(deps.engine) as session:
            notice = notices.by_key(session=session, key=key)
    except SQLAlchemyError as exc:
        log.warning("confirmation %s not sent, the database failed: %s", key, exc)
        return None
    if notice is None or notice.state != notices.OWED:
        return None
    return _tell(deps, client, notice)


def tell_owed(*, deps: Deps, client: WebClient, now: datetime | None = None) -> int:
    """The outbox's part: tell the confirmations still owed; how many were sent. Stops at the
    first that Slack rate-limits or fails (the rest waits for the next run)."""
    now = now or utcnow()
    settle = SETTLE_WITH_SECONDS if deps.settings.cron_seconds else SETTLE
    with session_scope(deps.engine) as session:
        waiting = notices.owed(session=session, now=now, created_before=now - settle, limit=PER_RUN)
    with session_scope(deps.engine) as session:
        forgotten = notices.forget(session=session, due_before=now - KEEP, limit=FORGET_PER_RUN)
    if forgotten:
        log.info("confirmation outbox: %d settled confirmations forgotten", forgotten)
    told = 0
    for notice in waiting:
        delivery = _tell(deps, client, notice, now=now)
        told += delivery is Delivery.SENT
        if delivery in (Delivery.RATELIMITED, Delivery.UNKNOWN):
            break
    if told:
        log.info("confirmation outbox: %d submitters told", told)
    return told


def _tell(
    deps: Deps, client: WebClient, notice: SubmitterNotice, *, now: datetime | None = None
) -> Delivery | None:
    assert notice.id is not None
    token, now = uuid.uuid4().hex, now or utcnow()
    text: str | None = None
    try:
        with session_scope(deps.engine) as session:
            summary = proposals.summary(session=session, proposal_id=notice.proposal_id)
            text = blocks.proposal_stored(
                summary,
                card_posted=bool(summary.proposal.message_ts),
                channel_id=deps.settings.proposals_channel or "",
                card_queued=card_queued(summary.proposal),
            )
    except NotFound:
        pass  # nothing left to confirm: dropped below
    except SQLAlchemyError as exc:
        log.warning("confirmation %s not sent, the database failed: %s", notice.key, exc)
        return None
    try:
        # In a transaction of its own: on SQLite a read before it could not become a write.
        with session_scope(deps.engine) as session:
            if not notices.claim(session=session, notice_id=notice.id, token=token, now=now):
                return None
    except SQLAlchemyError as exc:
        log.warning("confirmation %s not sent, the database failed: %s", notice.key, exc)
        return None
    if text is None:
        _settle(deps, notice, token, Delivery.REFUSED, why="the proposal is not in the register")
        return Delivery.REFUSED
    delivery = notify.send(client, notice.user_id, text)
    why = "Slack refused it" if delivery is Delivery.REFUSED else "it may have arrived"
    _settle(deps, notice, token, delivery, why=why)
    return delivery


def _settle(
    deps: Deps, notice: SubmitterNotice, token: str, delivery: Delivery, *, why: str
) -> None:
    assert notice.id is not None
    try:
        with session_scope(deps.engine) as session:
            if delivery is Delivery.SENT:
                notices.mark_sent(session=session, notice_id=notice.id, token=token, now=utcnow())
            elif delivery is Delivery.RATELIMITED:
                due = utcnow() + RETRY_RATELIMITED_AFTER
                notices.give_back(session=session, notice_id=notice.id, token=token, due_at=due)
            else:
                notices.drop(session=session, notice_id=notice.id, token=token, note=why)
    except SQLAlchemyError as exc:
        # Left claimed, so never sent again: it may well have arrived.
        log.warning("confirmation %s (%s) not recorded: %s", notice.key, delivery, exc)
