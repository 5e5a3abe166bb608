"""Opening and closing a prioritisation poll in the steering channel: the one place polls reach
Slack. Used by `csi-bot poll open|close`, the schedule and the reaction listener."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import proposals
from bot.blocks import polls as poll_blocks
from bot.deps import Deps
from bot.errors import CsiError
from bot.notify import UNREACHABLE
from bot.polls.ballot import Candidate, Result, ballot, count, reactions_of
from storage import poll_tables as tables
from storage.types import utcnow

log = logging.getLogger(__name__)

# How long one process may take to count and post a result before another may take over.
CLOSING_HOLD = timedelta(minutes=5)


class PollFailed(CsiError):
    """Slack refused or could not be reached; the message says what stays as it was."""


@dataclass(frozen=True)
class Opened:
    """A poll was posted with these candidates."""

    poll_id: int
    channel_id: str
    message_ts: str
    candidates: tuple[Candidate, ...]
    closes_at: datetime


@dataclass(frozen=True)
class AlreadyOpen:
    """Another poll is open; only one may be."""

    poll_id: int
    channel_id: str
    opened_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class NoCandidates:
    """The register has no open or approved proposal to put to a poll."""


@dataclass(frozen=True)
class Closed:
    """A poll was closed; its result is in its thread (`result_ts`), or it was never posted."""

    poll_id: int
    channel_id: str
    result: Result
    result_ts: str | None


@dataclass(frozen=True)
class NoneOpen:
    """No poll is open."""


@dataclass(frozen=True)
class NotDue:
    """The open poll runs until `closes_at`."""

    poll_id: int
    closes_at: datetime


@dataclass(frozen=True)
class Busy:
    """Another process is counting this poll right now."""

    poll_id: int


OpenOutcome = Opened | AlreadyOpen | NoCandidates
CloseOutcome = Closed | NoneOpen | NotDue | Busy

_bot_users: dict[str, str] = {}
_bot_users_lock = threading.Lock()


def bot_user_id(client: WebClient) -> str:
    """The bot's own user ID (from `auth.test`, asked once per token): its reactions are the
    numbered emoji it adds for convenience, never votes."""
    token = client.token or ""
    with _bot_users_lock:
        known = _bot_users.get(token)
    if known:
        return known
    user_id = str(client.auth_test().get("user_id") or "")
    with _bot_users_lock:
        _bot_users[token] = user_id
    return user_id


def _already_open(poll: tables.Poll) -> AlreadyOpen:
    return AlreadyOpen(
        poll_id=poll.id or 0,
        channel_id=poll.channel_id,
        opened_at=poll.opened_at,
        closes_at=poll.closes_at,
    )


def open_poll(
    *, deps: Deps, client: WebClient, opened_by: str, now: datetime | None = None
) -> OpenOutcome:
    """Post a poll of the top of the ranking to the steering channel, unless one is open or
    there is nothing to rank. The database holds the one open poll, so two openers at once
    (the schedule and the CLI, or two replicas) post one poll."""
    now = now or utcnow()
    channel = deps.settings.steering_channel or ""
    closes_at = now + timedelta(days=deps.settings.poll_days)
    with deps.session() as session:
        current = tables.open_poll(session=session)
        if current is not None:
            return _already_open(current)
        ranked = proposals.ranked(session=session)
        chosen = ballot([(s.proposal.id or 0, s.proposal.title) for s in ranked])
        if not chosen:
            return NoCandidates()
        poll = tables.add_poll(
            session=session,
            channel_id=channel,
            opened_by=opened_by,
            opened_at=now,
            closes_at=closes_at,
            candidates=[(c.number, c.proposal_id, c.title) for c in chosen],
        )
        if poll is None:
            current = tables.open_poll(session=session)
            return _already_open(current) if current is not None else NoCandidates()
        poll_id = poll.id or 0
    text, message = poll_blocks.poll_message(
        poll_id=poll_id, candidates=chosen, closes_at=closes_at, timezone=deps.settings.timezone
    )
    try:
        posted = client.chat_postMessage(
            channel=channel, text=text, blocks=message, unfurl_links=False, unfurl_media=False
        )
        ts = str(posted["ts"])
    except (SlackApiError, *UNREACHABLE) as exc:
        with deps.session() as session:
            tables.delete_unposted(session=session, poll_id=poll_id)
        raise PollFailed(
            f"Slack did not take the poll message in {channel} ({_why(exc)}); no poll is open. "
            "Check that the bot is a member of that channel, then try again."
        ) from exc
    with deps.session() as session:
        tables.store_message(session=session, poll_id=poll_id, message_ts=ts)
    _add_number_emoji(client, channel, ts, chosen)
    return Opened(
        poll_id=poll_id,
        channel_id=channel,
        message_ts=ts,
        candidates=tuple(chosen),
        closes_at=closes_at,
    )


def _add_number_emoji(client: WebClient, channel: str, ts: str, chosen: list[Candidate]) -> None:
    """React with each candidate's number, so voters need only click; a convenience, so a
    refusal is logged and the poll stands."""
    for candidate in chosen:
        try:
            client.reactions_add(channel=channel, timestamp=ts, name=candidate.emoji)
        except SlackApiError as exc:
            if exc.response.get("error") == "already_reacted":
                continue
            log.warning("could not add :%s: to poll message: %s", candidate.emoji, _why(exc))
            return
        except UNREACHABLE as exc:
            log.warning("could not add :%s: to poll message: %s", candidate.emoji, exc)
            return


def close_poll(
    *, deps: Deps, client: WebClient, now: datetime | None = None, due_only: bool = False
) -> CloseOutcome:
    """Count the open poll from Slack itself, post the ranked result in its thread and store it.

    The count reads every reaction on the poll message (`reactions.get`), so reactions made
    while the bot was down count, and each person counts once per candidate however many
    events Slack delivered. With `due_only`, a poll still running is left open.
    """
    now = now or utcnow()
    with deps.session() as session:
        poll = tables.open_poll(session=session)
        if poll is None or poll.id is None:
            return NoneOpen()
        if due_only and now < poll.closes_at:
            return NotDue(poll_id=poll.id, closes_at=poll.closes_at)
        poll_id, channel, message_ts = poll.id, poll.channel_id, poll.message_ts
        closes_at = poll.closes_at
        chosen = [
            Candidate(number=c.number, proposal_id=c.proposal_id, title=c.title)
            for c in tables.candidates(session=session, poll_id=poll_id)
        ]
    with deps.session() as session:
        if not tables.claim_closing(
            session=session, poll_id=poll_id, now=now, until=now + CLOSING_HOLD
        ):
            return Busy(poll_id=poll_id)
    try:
        result, result_ts = _count_and_post(deps, client, poll_id, channel, message_ts, chosen)
    except BaseException:
        with deps.session() as session:
            tables.release_closing(session=session, poll_id=poll_id)
        raise
    with deps.session() as session:
        tables.store_result(
            session=session,
            poll_id=poll_id,
            closed_at=now,
            voters=result.voters,
            result_ts=result_ts,
            places=[
                (p.candidate.proposal_id, p.candidate.number, p.votes, p.rank)
                for p in result.places
            ],
        )
    if message_ts is not None:
        _mark_closed(deps, client, poll_id, channel, message_ts, chosen, closes_at, now)
    return Closed(poll_id=poll_id, channel_id=channel, result=result, result_ts=result_ts)


def _mark_closed(
    deps: Deps,
    client: WebClient,
    poll_id: int,
    channel: str,
    message_ts: str,
    chosen: list[Candidate],
    closes_at: datetime,
    closed_at: datetime,
) -> None:
    """Rewrite the poll message so that it no longer asks for votes; the result stands even
    when this fails, so a failure is logged."""
    text, message = poll_blocks.poll_message(
        poll_id=poll_id,
        candidates=chosen,
        closes_at=closes_at,
        timezone=deps.settings.timezone,
        closed_at=closed_at,
    )
    try:
        client.chat_update(channel=channel, ts=message_ts, text=text, blocks=message)
    except (SlackApiError, *UNREACHABLE) as exc:
        log.warning("could not mark poll %d as closed: %s", poll_id, _why(exc))


def _count_and_post(
    deps: Deps,
    client: WebClient,
    poll_id: int,
    channel: str,
    message_ts: str | None,
    chosen: list[Candidate],
) -> tuple[Result, str | None]:
    if message_ts is None:
        # The process that opened it stopped before Slack answered: nobody saw it.
        return count(chosen, {}, counts=lambda _user: False), None
    try:
        answer = client.reactions_get(channel=channel, timestamp=message_ts, full=True)
        bot = bot_user_id(client)
    except (SlackApiError, *UNREACHABLE) as exc:
        raise PollFailed(
            f"Could not read the reactions on poll {poll_id} ({_why(exc)}); it stays open. "
            "Try again later."
        ) from exc
    result = count(
        chosen,
        reactions_of(answer.data if isinstance(answer.data, dict) else {}),
        counts=lambda user: user != bot and deps.steering.is_member(user),
    )
    text, message = poll_blocks.poll_result(poll_id=poll_id, result=result)
    try:
        posted = client.chat_postMessage(
            channel=channel,
            thread_ts=message_ts,
            text=text,
            blocks=message,
            unfurl_links=False,
            unfurl_media=False,
        )
    except (SlackApiError, *UNREACHABLE) as exc:
        raise PollFailed(
            f"Slack did not take the result of poll {poll_id} ({_why(exc)}); it stays open. "
            "Try again later."
        ) from exc
    return result, str(posted["ts"])


def tell_non_member(
    *, deps: Deps, client: WebClient, channel_id: str, message_ts: str, user_id: str
) -> bool:
    """Tell someone outside the steering group, once per open poll, that their reaction on it
    does not count; False (and nothing sent) for any other message, the bot's own reactions and
    steering members. Runs after the ack: it may ask Slack who the bot is."""
    with deps.session() as session:
        poll = tables.poll_by_message(session=session, channel_id=channel_id, message_ts=message_ts)
        if poll is None or poll.id is None or poll.open_slot is None:
            return False
        poll_id = poll.id
    try:
        if user_id == bot_user_id(client) or deps.steering.is_member(user_id):
            return False
    except (SlackApiError, *UNREACHABLE) as exc:
        log.warning("could not check who reacted to a poll: %s", _why(exc))
        return False
    with deps.session() as session:
        if not tables.claim_notice(session=session, poll_id=poll_id, user_id=user_id):
            return False
    try:
        client.chat_postEphemeral(channel=channel_id, user=user_id, text=poll_blocks.poll_notice())
    except (SlackApiError, *UNREACHABLE) as exc:
        log.warning("could not tell %s that their poll reaction does not count: %s", user_id, exc)
        return False
    return True


def _why(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or "error")
    return str(exc) or type(exc).__name__
