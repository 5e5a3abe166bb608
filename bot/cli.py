"""The `csi-bot` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import proposals, register_io
from bot.errors import CsiError
from bot.settings import Settings, SettingsError
from storage import repositories as repo
from storage.db import make_engine, session_scope, upgrade


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csi-bot",
        description="Continual Service Improvement in Slack. Configuration comes from the "
        "environment and .env (see README).",
    )
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
    add.add_argument("--description", default="")
    objective_commands.add_parser("list", help="list the active objectives")

    export = commands.add_parser("export", help="print the register")
    export.add_argument("--format", choices=["csv", "json"], default="csv")

    imp = commands.add_parser("import", help="add proposals from a CSV or JSON file")
    imp.add_argument("file", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 refused input, 2 configuration)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command != "serve":
        # The operator asked for one thing; migration chatter would bury the answer.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = Settings.load()
        if args.command == "serve":
            from bot.app import serve

            serve(settings)
            return 0
        return _run(args, settings)
    except SettingsError as exc:
        print(f"csi-bot: {exc}", file=sys.stderr)
        return 2
    except CsiError as exc:
        print(f"csi-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    if args.command == "db":
        print("Database is up to date.")
        return 0
    with session_scope(engine) as session:
        if args.command == "objective" and args.objective_command == "add":
            objective = proposals.add_objective(
                session=session, title=args.title, weight=args.weight, description=args.description
            )
            print(
                f"Added objective {objective.id}: {objective.title} (weight {objective.weight:g})"
            )
        elif args.command == "objective":
            objectives = repo.list_objectives(session=session)
            if not objectives:
                print('No objectives yet. Add one: csi-bot objective add "TITLE" [--weight W]')
            for item in objectives:
                print(f"{item.id}\t{item.title}\tweight {item.weight:g}")
        elif args.command == "export":
            sys.stdout.write(register_io.export_text(session=session, fmt=args.format))
        elif args.command == "import":
            stored = register_io.import_file(session=session, path=args.file)
            print(f"Imported {len(stored)} proposals.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
