"""The `csi-bot sla` and `csi-bot digest` commands: targets, measurements, the digest."""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot import digest_posting as posting
from bot.blocks.digest import ProposalRef
from bot.errors import CsiError
from bot.settings import Settings, SettingsError
from bot.sla import measurements, targets
from bot.sla.evaluation import Digest, TargetResult, digest_json, evaluate
from storage.db import session_scope


def _finite(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or "_" in raw:
        raise argparse.ArgumentTypeError(f"must be a finite number, not {raw!r}")
    return value


def _target_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise argparse.ArgumentTypeError(f"must be a target's number, not {raw!r}")
    return int(raw)


def _as_of(raw: str) -> datetime:
    """A date (YYYY-MM-DD) or an ISO 8601 time; a date or naive time is read in CSI_TIMEZONE."""
    try:
        return datetime.combine(date.fromisoformat(raw), datetime.min.time())
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a date like 2026-11-23 (or an ISO 8601 time), not {raw!r}"
        ) from None


def add_parsers(commands: Any) -> None:
    """Add `sla` and `digest` to the command line's subcommands."""
    sla = commands.add_parser("sla", help="service levels: targets and measurements")
    sla_commands = sla.add_subparsers(dest="sla_command", required=True, metavar="ACTION")
    target = sla_commands.add_parser("target", help="the SLA targets")
    target_commands = target.add_subparsers(dest="target_command", required=True, metavar="ACTION")
    add = target_commands.add_parser(
        "add",
        help="define a target",
        description="A target compares one aggregate of a service's metric over the digest's "
        "7 days with a number, e.g. --service Email --metric availability --aggregate mean "
        "--comparator '>=' --target 99.9 --unit %%.",
    )
    add.add_argument("--service", required=True, help="the service (created when new)")
    add.add_argument("--metric", required=True, help="the metric's name, as measurements name it")
    add.add_argument("--aggregate", required=True, choices=targets.AGGREGATES)
    add.add_argument("--comparator", required=True, choices=targets.COMPARATORS)
    add.add_argument("--target", required=True, type=_finite, help="the number to compare with")
    add.add_argument("--unit", help="shown after the numbers, e.g. %% or ms")
    target_commands.add_parser("list", help="list the targets")
    remove = target_commands.add_parser("remove", help="remove a target (measurements stay)")
    remove.add_argument("id", type=_target_id, help="the target's number (see sla target list)")
    imp = sla_commands.add_parser(
        "import",
        help="store measurements from a CSV file",
        description="Columns service,metric,timestamp,value (a header row first). Timestamps "
        "are ISO 8601 with a time zone, like 2026-11-23T09:00:00Z. Every row is checked: if "
        "any is bad, each problem is listed with its line number and nothing is stored. A "
        "measurement already stored (same service, metric and timestamp) is skipped.",
    )
    imp.add_argument("file", type=Path, help="the CSV file")

    digest = commands.add_parser(
        "digest",
        help="the SLA digest of the 7 days before a date",
        description="Each target's actual value over the 7 whole days before --as-of (in "
        "CSI_TIMEZONE) against its target, with the previous 7 days and the open proposals on "
        "its service.",
    )
    digest.add_argument(
        "--as-of",
        type=_as_of,
        metavar="DATE",
        help="the day after the period, YYYY-MM-DD (default: today)",
    )
    digest.add_argument("--format", choices=["text", "json"], default="text")
    digest.add_argument(
        "--post",
        action="store_true",
        help="post it to CSI_DIGEST_CHANNEL (with its chart and details in the thread) instead "
        "of printing it",
    )


def run(args: argparse.Namespace, *, settings: Settings, engine: Engine) -> int:
    """Run an `sla` or `digest` command on a migrated database."""
    to_post: tuple[Digest, dict[int, ProposalRef]] | None = None
    with session_scope(engine) as session:
        if args.command == "digest":
            as_of = args.as_of or datetime.now(UTC)
            result = evaluate(session=session, as_of=as_of, timezone=settings.timezone)
            if args.post:
                to_post = (result, posting.proposal_refs(session=session, digest=result))
            elif args.format == "json":
                print(json.dumps(digest_json(result), ensure_ascii=False, indent=2))
            else:
                print("\n".join(digest_text(result)))
        elif args.sla_command == "import":
            stored = measurements.import_csv(session=session, path=args.file)
            print(
                f"Stored {_count(stored.stored, 'measurement')} from {args.file}; "
                f"{_count(stored.duplicates, 'duplicate')} skipped (already stored)."
            )
        elif args.target_command == "add":
            view = targets.add(
                session=session,
                service=args.service,
                metric=args.metric,
                aggregate=args.aggregate,
                comparator=args.comparator,
                target=args.target,
                unit=args.unit,
            )
            print(f"Added target {view.id}: {targets.describe(view)}")
        elif args.target_command == "list":
            views = targets.list_all(session=session)
            if not views:
                print(
                    "No targets yet. Add one: csi-bot sla target add --service S --metric M "
                    "--aggregate mean --comparator '>=' --target T"
                )
            for view in views:
                print(f"{view.id}\t{targets.describe(view)}")
        elif args.target_command == "remove":
            targets.remove(session=session, target_id=args.id)
            print(f"Removed target {args.id}.")
    if to_post is not None:
        # After the unit of work: no transaction stays open while Slack is called.
        post_digest(settings=settings, digest=to_post[0], proposals=to_post[1])
    return 0


def post_digest(*, settings: Settings, digest: Digest, proposals: dict[int, ProposalRef]) -> None:
    """`csi-bot digest --post`: post now, whether or not the schedule posted this period."""
    channel = settings.digest_channel
    if not settings.slack_bot_token or not channel:
        raise SettingsError(
            "Posting the digest needs SLACK_BOT_TOKEN and CSI_DIGEST_CHANNEL (or "
            "CSI_PROPOSALS_CHANNEL), the channel's ID; invite the bot there with /invite."
        )
    from bot.app import build_client, check_slack

    client = build_client(settings)
    check_slack(settings, client)
    try:
        posted = posting.post_digest(
            client=client, channel=channel, digest=digest, proposals=proposals
        )
    except SlackApiError as exc:
        raise CsiError(f"Slack refused the digest ({exc.response.get('error')}).") from exc
    chart = "with its chart" if posted.chart_file_id else "without a chart"
    print(
        f"Posted the SLA digest to {posted.channel} {chart}, "
        f"{posted.replies} {'reply' if posted.replies == 1 else 'replies'} in its thread."
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _number(value: float | None, unit: str | None) -> str:
    if value is None:
        return "no value"
    return f"{value:g}" + (f" {unit}" if unit else "")


def _verdict(result: TargetResult) -> str:
    if not result.enough_samples:
        return (
            f"too few samples ({result.samples} of the {result.min_samples} needed for a verdict)"
        )
    return "BREACHED" if result.breached else "met"


def digest_text(digest: Digest) -> list[str]:
    """The digest as lines an operator reads in a terminal."""
    start = digest.period_start.strftime("%Y-%m-%d")
    last = digest.period_end.date().toordinal() - 1
    end = date.fromordinal(last).isoformat()
    lines = [f"SLA digest for {start} to {end} ({digest.timezone})"]
    if not digest.targets:
        lines.append(
            "No SLA targets are defined, so there is nothing to report. Add one with "
            "csi-bot sla target add."
        )
        return lines
    if not digest.measurements:
        lines.append(
            f"No measurements arrived for any of the {_count(len(digest.targets), 'target')} "
            "in this period, so there is nothing to judge. Send them with csi-bot sla import "
            "or POST /api/measurements."
        )
        return lines
    if digest.unaddressed:
        lines.append("")
        lines.append("Breaches no open proposal addresses:")
        for result in digest.unaddressed:
            lines.append(f"  {result.service} {result.metric}: {_line(result)}")
    lines.append("")
    lines.append("Every target:")
    for result in digest.targets:
        lines.append(f"  [{result.target_id}] {result.service} {result.metric}: {_line(result)}")
        if result.proposals:
            lines.append("      open proposals: " + ", ".join(f"#{p}" for p in result.proposals))
    return lines


def _line(result: TargetResult) -> str:
    wanted = f"{result.aggregate} {result.comparator} {_number(result.target, result.unit)}"
    previous = ""
    if result.previous is not None:
        previous = f"; previous week {_number(result.previous, result.unit)}"
        if result.trend:
            previous += f" ({result.trend})"
    return (
        f"{_number(result.actual, result.unit)} against {wanted}, {_verdict(result)}, "
        f"{_count(result.samples, 'sample')}{previous}"
    )
