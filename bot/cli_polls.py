"""The `csi-bot poll open` and `csi-bot poll close` commands: the steering group's
prioritisation poll, now instead of on the schedule."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from bot import poll_posting as service
from bot.blocks.kit import count
from bot.deps import Deps
from bot.errors import CsiError
from bot.settings import HOW_TO_GET, Settings, SettingsError
from bot.steering import SteeringGroup


class PollRefused(CsiError):
    """The poll cannot be opened or closed as asked; the message says why (exit status 1)."""


def add_parsers(commands: Any) -> None:
    """Add `poll` to the command line's subcommands."""
    poll = commands.add_parser(
        "poll",
        help="the steering group's prioritisation poll",
        description="Opens a prioritisation poll in CSI_STEERING_CHANNEL now, or closes the open "
        "one now and posts its result in the poll's thread; the schedule (CSI_POLL_CRON, "
        "CSI_POLL_DAYS) does the same.",
    )
    poll_commands = poll.add_subparsers(dest="poll_command", required=True, metavar="ACTION")
    poll_commands.add_parser(
        "open", help="post the top of the ranking (at most 10 proposals) as a poll"
    )
    poll_commands.add_parser(
        "close", help="count the open poll from Slack, post and store its ranked result"
    )


def run(args: argparse.Namespace, *, settings: Settings, engine: Engine) -> int:
    """Run `poll open` or `poll close`; prints one line, returns the exit status."""
    missing = []
    if not settings.slack_bot_token:
        missing.append(f"  SLACK_BOT_TOKEN: {HOW_TO_GET['SLACK_BOT_TOKEN']}")
    if not settings.steering_channel:
        missing.append(
            "  CSI_STEERING_CHANNEL (or CSI_PROPOSALS_CHANNEL): the ID of the channel where polls "
            "are posted; invite the bot there with /invite"
        )
    if missing:
        raise SettingsError("A prioritisation poll needs:\n" + "\n".join(missing))
    from bot.app import build_client, check_slack

    client = build_client(settings)
    check_slack(settings, client)
    deps = Deps(settings=settings, engine=engine, steering=SteeringGroup(settings, client))
    try:
        if args.poll_command == "open":
            print(_opened(service.open_poll(deps=deps, client=client, opened_by="cli"), settings))
        else:
            print(_closed(service.close_poll(deps=deps, client=client)))
    finally:
        deps.shutdown()
    return 0


def _when(moment: datetime, settings: Settings) -> str:
    return f"{moment.astimezone(ZoneInfo(settings.timezone)):%Y-%m-%d %H:%M} {settings.timezone}"


def _opened(outcome: service.OpenOutcome, settings: Settings) -> str:
    if isinstance(outcome, service.NoCandidates):
        raise PollRefused(
            "No poll was opened: the register has no open or approved proposal to put to it."
        )
    if isinstance(outcome, service.AlreadyOpen):
        raise PollRefused(
            f"Poll {outcome.poll_id} is already open in {outcome.channel_id} (opened "
            f"{_when(outcome.opened_at, settings)}, closing {_when(outcome.closes_at, settings)}); "
            "only one poll is open at a time. Close it first with `csi-bot poll close`."
        )
    return (
        f"Opened poll {outcome.poll_id} in {outcome.channel_id} with "
        f"{count(len(outcome.candidates), 'candidate')}; it closes "
        f"{_when(outcome.closes_at, settings)}."
    )


def _closed(outcome: service.CloseOutcome) -> str:
    if isinstance(outcome, service.NoneOpen):
        raise PollRefused("No poll is open, so there is nothing to close.")
    if isinstance(outcome, service.Busy):
        raise PollRefused(
            f"Poll {outcome.poll_id} is being closed by another process right now; run the "
            "command again in a few minutes to check."
        )
    if isinstance(outcome, service.NotDue):  # only the schedule asks for due polls
        raise PollRefused(f"Poll {outcome.poll_id} is still running.")
    result = outcome.result
    if outcome.result_ts is None:
        return (
            f"Closed poll {outcome.poll_id}: its message never reached Slack, so it has no result."
        )
    if result.voters == 0:
        return (
            f"Closed poll {outcome.poll_id} with no votes from the steering group; the result "
            "posted in its thread says so, and no priority changes."
        )
    top = [p for p in result.places if p.rank == 1]
    leaders = " and ".join(f"#{p.candidate.proposal_id}" for p in top)
    return (
        f"Closed poll {outcome.poll_id}: {count(result.voters, 'steering member')} cast "
        f"{count(result.votes, 'vote')}; {leaders} "
        f"{'ranks' if len(top) == 1 else 'share'} first. The ranked result is posted in the "
        "poll's thread."
    )
