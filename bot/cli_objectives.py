"""`csi-bot objective edit ID …` and `csi-bot objective retire ID`: the steering group's objective
changes from the command line (run by the operator for them)."""

from __future__ import annotations

import argparse
import math

from sqlalchemy.engine import Engine

from bot import objectives
from bot.errors import CsiError
from bot.settings import Settings
from storage.db import session_scope
from storage.models import Proposal


def _objective_id(text: str) -> int:
    digits = text.strip().removeprefix("#")
    if not (digits.isascii() and digits.isdigit() and 0 < len(digits) <= 9):
        raise argparse.ArgumentTypeError(f"{text!r} is not an objective number, like 3")
    return int(digits)


def _weight(text: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        weight = math.nan
    if not 0 < weight <= 100:
        raise argparse.ArgumentTypeError(objectives.WEIGHT_RULE)
    return weight


def add_parsers(objective_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`objective edit` and `objective retire`, under `csi-bot objective`."""
    edit = objective_commands.add_parser(
        "edit", help="change an objective's title, description or weight"
    )
    edit.add_argument("id", type=_objective_id, help="the objective's number (objective list)")
    edit.add_argument("--title", help="its new title")
    edit.add_argument("--description", help="its new description")
    edit.add_argument("--weight", type=_weight, help="its new weight, more than 0, at most 100")
    retire = objective_commands.add_parser(
        "retire",
        help="retire an objective: no new proposal can serve it; the submitters of its open "
        "proposals are asked in Slack to choose another",
    )
    retire.add_argument("id", type=_objective_id, help="the objective's number (objective list)")
    retire.add_argument(
        "--no-notify",
        action="store_true",
        help="only list the proposals that must choose again; message nobody",
    )


def run(args: argparse.Namespace, *, settings: Settings, engine: Engine) -> int:
    """Run `objective edit` or `objective retire`; 0 on success, 1 when refused."""
    try:
        if args.objective_command == "edit":
            return _edit(args, engine)
        return _retire(args, settings, engine)
    except CsiError as exc:
        print(f"error: {exc} Nothing was changed.")
        return 1


def _edit(args: argparse.Namespace, engine: Engine) -> int:
    if args.title is None and args.description is None and args.weight is None:
        print("error: give --title, --description or --weight. Nothing was changed.")
        return 1
    with session_scope(engine) as session:
        objective, changed = objectives.edit_objective(
            session=session,
            objective_id=args.id,
            title=args.title,
            description=args.description,
            weight=args.weight,
        )
        what = "Saved" if changed else "Nothing changed for"
        print(f"{what} objective {objective.id}: {objective.title} (weight {objective.weight:g})")
    return 0


def _retire(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    with session_scope(engine) as session:
        retired = objectives.retire_objective(session=session, objective_id=args.id)
        title = retired.objective.title
        affected = [(p.id, p.submitter, p.title) for p in retired.to_choose_again]
    if not retired.changed:
        print(f"Objective {args.id} ({title}) was already retired. Nothing was changed.")
        return 0
    print(f"Retired objective {args.id}: {title}")
    if not affected:
        print("No open proposal served it.")
        return 0
    print(f"{len(affected)} open proposal(s) served it; their submitters must choose again:")
    for proposal_id, submitter, proposal_title in affected:
        print(f"  #{proposal_id}\t{submitter}\t{proposal_title}")
    if args.no_notify or not settings.slack_bot_token:
        print("Nobody was messaged (no bot token, or --no-notify).")
        return 0
    _notify(settings, engine, retired)
    return 0


def _notify(settings: Settings, engine: Engine, retired: objectives.Retired) -> None:
    """Message each submitter with a select per proposal, as the Home tab's retire does."""
    from bot import notify
    from bot.app import build_client
    from bot.blocks.objectives import retire_notices

    client = build_client(settings)
    with session_scope(engine) as session:
        choices = objectives.search(session=session, query="", limit=objectives.OPTIONS_MAX + 1)
    by_submitter: dict[str, list[Proposal]] = {}
    for proposal in retired.to_choose_again:
        by_submitter.setdefault(proposal.submitter, []).append(proposal)
    told = 0
    for submitter, mine in by_submitter.items():
        sent = [
            notify.tell(client, submitter, text, message)
            for text, message in retire_notices(retired.objective, mine, choices)
        ]
        told += all(sent)
    print(f"Messaged {told} of {len(by_submitter)} submitter(s) in Slack.")
