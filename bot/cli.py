"""The `csi-bot` command line."""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import cli_objectives, cli_polls, cli_sla, register_io
from bot.errors import CsiError
from bot.outbox import CARD_STATUSES, GIVE_UP_AFTER, Outbox, Outcome, Tally
from bot.settings import HOW_TO_GET, Settings, SettingsError
from storage.db import DatabaseUnusable, check_reachable, make_engine, session_scope, upgrade


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2, like argparse's own."""


def _version() -> str:
    try:
        return metadata.version("csi-bot")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _score(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0.0):
        raise argparse.ArgumentTypeError(f"must be a number of 0 or more, not {raw!r}")
    return value


def _limit(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 100, not {raw!r}")
    return value


def _input_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{raw!r} is not a file")
    return path


def _output_file(raw: str) -> Path:
    path = Path(raw)
    if path.is_dir() or not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise argparse.ArgumentTypeError(f"{raw!r} is a folder or its folder does not exist")
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csi-bot",
        description="Continual Service Improvement in Slack. Configuration comes from the "
        "environment and .env (see README).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="migrate the database, start the bot and its scheduler")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply migrations")

    objective = commands.add_parser("objective", help="the steering group's objectives")
    objective_commands = objective.add_subparsers(
        dest="objective_command", required=True, metavar="ACTION"
    )
    add = objective_commands.add_parser("add", help="add an objective")
    add.add_argument("title")
    add.add_argument(
        "--weight",
        type=float,
        default=1.0,
        help="how much proposals serving it count in the priority (default 1)",
    )
    add.add_argument(
        "--description", default="", help="what the objective means, shown with its title"
    )
    cli_objectives.add_target_arguments(add)
    cli_objectives.add_parsers(objective_commands)

    export = commands.add_parser(
        "export",
        help="print the register (CSV or JSON)",
        description="The whole register, one row per proposal. In CSV, text that a spreadsheet "
        "would run as a formula (starting with = + - @, a tab or a carriage return) is written "
        "after a single quote; `csi-bot import` removes it again. JSON is exact.",
    )
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument(
        "--output",
        type=_output_file,
        metavar="FILE",
        help="write to FILE instead of standard output (CSV with a UTF-8 byte order mark, "
        "as spreadsheets expect)",
    )

    imp = commands.add_parser(
        "import",
        help="add proposals from a CSV or JSON file",
        description="Adds the proposals of a CSV file (comma, semicolon or tab; UTF-8 with or "
        "without a byte order mark) or of a JSON array shaped like the export. Every row is "
        "checked first: if any has a problem, every problem is listed with its line and "
        "nothing is imported. A row the register already holds (same ref; without a ref, same "
        "title, submitter and description) is skipped, not imported twice.",
        epilog=register_io.columns_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", type=_input_file, help="the CSV or JSON file")
    imp.add_argument(
        "--create-objectives",
        action="store_true",
        help="create the objectives the file names that do not exist yet (weight 1)",
    )

    similar = commands.add_parser(
        "similar", help="the stored proposals the bot would warn about for a text"
    )
    similar.add_argument("text", nargs="?", help="title (and description) of a new proposal")
    similar.add_argument(
        "--batch",
        type=Path,
        metavar="FILE",
        help='JSON lines {"title", "description"} in ("-" reads standard input), one JSON line '
        "out each",
    )
    similar.add_argument(
        "--limit", type=_limit, default=5, help="how many matches at most, 1 to 100 (default 5)"
    )
    similar.add_argument("--format", choices=["text", "json"], default="text")
    similar.add_argument(
        "--threshold",
        type=_score,
        default=None,
        help="lowest score shown; scores run from 0 to about 1 (default: the warning decision)",
    )
    similar.add_argument(
        "--calibrate",
        type=_input_file,
        metavar="FILE",
        help="refit the warning on known duplicate pairs (CSV: a header, then two proposal "
        "numbers or refs a row)",
    )
    similar.add_argument(
        "--output",
        type=_output_file,
        metavar="PATH",
        help="with --calibrate: where the refitted warning is written (default: "
        "CSI_WARNING_MODEL, else csi-warning-model.json)",
    )

    cards = commands.add_parser("cards", help="the proposals' cards in the proposals channel")
    cards_commands = cards.add_subparsers(dest="cards_command", required=True, metavar="ACTION")
    cards_post = cards_commands.add_parser(
        "post",
        help="post the cards that stored proposals lack (after an import), never twice",
        description="Posts the card of every stored proposal that has none, oldest first, at "
        "a pace Slack accepts. Ctrl-C stops after the current card; running the command again "
        "posts the rest.",
    )
    cards_post.add_argument(
        "--status",
        action="append",
        type=_card_statuses,
        metavar="STATUS",
        help="only proposals in this status; repeat or separate with commas (default: "
        + ", ".join(sorted(CARD_STATUSES))
        + ")",
    )
    cards_post.add_argument(
        "--pace",
        type=_pace,
        default=1.0,
        metavar="SECONDS",
        help="seconds between two cards (default 1: Slack accepts about one message a second "
        "in a channel)",
    )
    cli_sla.add_parsers(commands)
    cli_polls.add_parsers(commands)
    return parser


def _pace(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 60.0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds from 0 to 60, not {raw!r}")
    return value


def _card_statuses(raw: str) -> list[str]:
    wanted = [word.strip().lower().replace(" ", "_") for word in raw.split(",") if word.strip()]
    unknown = [word for word in wanted if word not in CARD_STATUSES]
    if not wanted or unknown:
        raise argparse.ArgumentTypeError(
            f"{raw!r}: cards are posted for proposals that are " + ", ".join(sorted(CARD_STATUSES))
        )
    return wanted


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 refused input, 2 configuration)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command != "serve":
        # The operator asked for one thing; migration chatter would bury the answer.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    # The card outbox runs every minute: two INFO lines a minute from APScheduler would bury the
    # bot's own log. Failed and missed runs are still logged (WARNING and above).
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    try:
        _check_usage(args)
        settings = Settings.load()
        if args.command == "serve":
            from bot.app import serve

            serve(settings)
            return 0
        return _run(args, settings)
    except (SettingsError, DatabaseUnusable) as exc:
        print(f"csi-bot: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"csi-bot {args.command}: {exc} (see csi-bot {args.command} --help)", file=sys.stderr)
        return 2
    except CsiError as exc:
        print(f"csi-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    check_reachable(engine)
    upgrade(engine)
    if args.command == "db":
        print("Database is up to date.")
        return 0
    if args.command == "cards":
        return cards_post_command(args, settings=settings, engine=engine)
    if args.command in ("sla", "digest"):
        return cli_sla.run(args, settings=settings, engine=engine)
    if args.command == "poll":
        return cli_polls.run(args, settings=settings, engine=engine)
    if args.command == "objective":
        return cli_objectives.run(args, settings=settings, engine=engine)
    with session_scope(engine) as session:
        if args.command == "export" and args.output is not None:
            count = register_io.write_export(session=session, fmt=args.format, output=args.output)
            print(f"Wrote {count} proposal{'' if count == 1 else 's'} to {args.output}.")
        elif args.command == "export":
            sys.stdout.write(register_io.export_text(session=session, fmt=args.format))
        elif args.command == "import":
            result = register_io.import_file(
                session=session, path=args.file, create_objectives=args.create_objectives
            )
            print("\n".join(register_io.report(result)))
        elif args.command == "similar" and args.calibrate is not None:
            from bot import cli_similar  # the engine's numpy loads for `similar` alone

            cli_similar.calibrate_command(
                path=args.calibrate, output=args.output, settings=settings, session=session
            )
        elif args.command == "similar":
            similar_command(args, settings=settings, session=session, engine=engine)
    return 0


def _check_usage(args: argparse.Namespace) -> None:
    """What argparse cannot say on its own, said before any database is touched."""
    if args.command == "similar" and args.calibrate is not None:
        if args.text is not None or args.batch is not None:
            raise UsageError("--calibrate FILE takes no TEXT and no --batch")
    elif args.command == "similar" and (args.text is None) == (args.batch is None):
        raise UsageError("give either TEXT or --batch FILE, not both or neither")


def similar_command(
    args: argparse.Namespace, *, settings: Settings, session: Session, engine: Engine
) -> None:
    """`csi-bot similar`: what the bot would warn about, for one text or a batch."""
    from bot import cli_similar, kept_index  # the engine's numpy loads for `similar` alone
    from bot.deps import index_file
    from bot.similar_proposals import SimilarProposals

    try:
        index = SimilarProposals(
            method=settings.similarity_method, warning_model=cli_similar.warning_model(settings)
        )
    except ImportError as exc:
        raise SettingsError(f"CSI_SIMILARITY={settings.similarity_method}: {exc}") from exc
    # The index the bot keeps, brought up to date, when there is one: a large register is
    # then not read again for one question.
    if (kept := index_file(settings)) is not None:
        kept_index.take(index, engine, kept, kept_index.database_identity(settings.database_url))
    index.refresh(session=session)

    def matches(title: str, description: str) -> list[dict[str, object]]:
        found = index.similar(
            session=session,
            title=title,
            description=description,
            limit=args.limit,
            threshold=args.threshold,
        )
        return [
            {
                "id": m.proposal.id,
                "ref": m.proposal.ref,
                "title": m.proposal.title,
                "score": m.score,
                "status": m.proposal.status,
                "votes": m.summary.votes,
                "reasons": list(m.reasons),
            }
            for m in found
        ]

    if args.batch is not None:
        for number, line in enumerate(_read_lines(args.batch), start=1):
            if not line.strip():
                continue
            try:
                query = json.loads(line)
                title, description = str(query["title"]), str(query.get("description") or "")
            except (ValueError, KeyError, TypeError) as exc:
                raise CsiError(
                    f"{args.batch} line {number}: expected a JSON object with a 'title' ({exc})."
                ) from exc
            print(
                json.dumps(
                    {"title": title, "matches": matches(title, description)}, ensure_ascii=False
                )
            )
        return
    found = matches(args.text, "")
    if args.format == "json":
        print(json.dumps(found, ensure_ascii=False, indent=2))
    elif not found:
        print("No similar proposal: the bot would not warn.")
    else:
        for item in found:
            reasons = item["reasons"]
            why = ", ".join(map(str, reasons)) if isinstance(reasons, list) else ""
            print(f"#{item['id']}\t{item['score']:.3f}\t{item['status']}\t{item['title']}\t{why}")


def _read_lines(path: Path) -> list[str]:
    if str(path) == "-":
        return sys.stdin.read().splitlines()
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CsiError(f"Cannot read {path}: {exc}") from exc


def cards_post_command(args: argparse.Namespace, *, settings: Settings, engine: Engine) -> int:
    """`csi-bot cards post`: post the missing cards at Slack's pace; stoppable and resumable."""
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("CSI_PROPOSALS_CHANNEL", settings.proposals_channel),
        )
        if not value
    ]
    if missing:
        lines = [f"  {name}: {HOW_TO_GET[name]}" for name in missing]
        raise SettingsError("Posting cards needs:\n" + "\n".join(lines))
    from bot.app import build_client, check_slack

    client = build_client(settings)
    check_slack(settings, client)
    # One line per card is the progress; the outbox's own log lines would repeat it.
    logging.getLogger("bot.outbox").setLevel(logging.WARNING)
    channel = settings.proposals_channel or ""
    statuses = sorted({s for chosen in args.status or [sorted(CARD_STATUSES)] for s in chosen})
    stopping = threading.Event()

    def stop_after_this_card(_signum: int, _frame: object) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
        print("Stopping after the current card…", file=sys.stderr, flush=True)

    def started(total: int) -> None:
        if total:
            print(
                f"Posting {_count(total, 'card')} to {channel}, one every {args.pace:g} s; "
                "Ctrl-C stops after the current card.",
                file=sys.stderr,
                flush=True,
            )

    def progress(proposal_id: int, outcome: Outcome, done: int, total: int) -> None:
        print(
            f"[{done}/{total}] #{proposal_id}: {_CARD_OUTCOMES[outcome]}",
            file=sys.stderr,
            flush=True,
        )

    handlers = {
        sig: signal.signal(sig, stop_after_this_card) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        tally = Outbox(
            engine=engine, client=client, channel=channel, vote_emoji=settings.vote_emoji
        ).post_missing(
            statuses=statuses,
            respect_backoff=False,
            pace=args.pace,
            stop=stopping.is_set,
            on_start=started,
            on_card=progress,
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return _cards_summary(tally)


_CARD_OUTCOMES = {
    Outcome.POSTED: "posted",
    Outcome.ADOPTED: "already in the channel; recorded",
    Outcome.HAS_CARD: "has its card already",
    Outcome.BUSY: "being posted by another process",
    Outcome.FAILED: "failed (see the message above)",
    Outcome.SKIPPED: "its status changed; no card",
}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _cards_summary(tally: Tally) -> int:
    posted, failed = tally[Outcome.POSTED], tally[Outcome.FAILED]
    adopted, busy = tally[Outcome.ADOPTED], tally[Outcome.BUSY]
    print(f"Posted {_count(posted, 'card')}; {failed} failed.")
    if adopted:
        print(f"Recorded {_count(adopted, 'card')} found in the channel from an interrupted run.")
    if busy:
        print(
            f"{_count(busy, 'card')} {'is' if busy == 1 else 'are'} being posted by another "
            "process, or by a run stopped less than 2 minutes ago; run the command again after "
            "that to check."
        )
    if tally.gave_up:
        print(
            f"The last {GIVE_UP_AFTER} cards failed in a row, so I stopped with "
            f"{_count(tally.remaining, 'card')} still to post; run the command again later."
        )
        return 1
    if tally.remaining:
        print(
            f"Stopped with {_count(tally.remaining, 'card')} still to post; run the command "
            "again to post the rest."
        )
        return 130
    if failed:
        print("Run the command again to retry the cards that failed.")
    return 1 if failed or busy else 0


if __name__ == "__main__":
    raise SystemExit(main())
