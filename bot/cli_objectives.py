"""`csi-bot objective add|list|edit|retire`: the steering group's objectives from the command
line (run by the operator for them), with their measurable targets and how far each got."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date

from sqlalchemy.engine import Engine

from bot import objective_progress, objectives
from bot.errors import CsiError
from bot.objectives import TargetInput
from bot.settings import Settings
from storage import repositories as repo
from storage.db import session_scope
from storage.models import Objective, Proposal
from storage.types import utcnow


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


def _number(text: str) -> float:
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or abs(number) >= objectives.NUMBER_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number, like 42 or 97.5")
    return number


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date, like 2027-06-30") from None


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The measurable target's options, on `objective add` and `objective edit`."""
    kpi = parser.add_mutually_exclusive_group()
    kpi.add_argument("--kpi", metavar="TEXT", help="the KPI that shows progress, in words")
    kpi.add_argument(
        "--sla-target",
        type=_objective_id,
        metavar="ID",
        help="or one of the SLA targets as the KPI (sla target list)",
    )
    parser.add_argument("--baseline", type=_number, help="the KPI's value today")
    parser.add_argument(
        "--target",
        type=_number,
        help="the value to reach (for an SLA target, its own target unless given)",
    )
    parser.add_argument(
        "--by", type=_date, metavar="DATE", help="the date to reach it by, like 2027-06-30"
    )


def add_parsers(objective_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`objective list`, `objective edit` and `objective retire`, under `csi-bot objective`."""
    listing = objective_commands.add_parser(
        "list",
        help="list the active objectives, each with how far it got",
        description="Each active objective with its steps by status, their summed value and "
        "effort, its KPI against baseline and target (on track or not), and whether it is "
        "neglected (no open or approved step).",
    )
    listing.add_argument("--format", choices=["text", "json"], default="text")
    edit = objective_commands.add_parser(
        "edit", help="change an objective's title, description, weight or measurable target"
    )
    edit.add_argument("id", type=_objective_id, help="the objective's number (objective list)")
    edit.add_argument("--title", help="its new title")
    edit.add_argument("--description", help="its new description")
    edit.add_argument("--weight", type=_weight, help="its new weight, more than 0, at most 100")
    add_target_arguments(edit)
    edit.add_argument(
        "--no-target", action="store_true", help="remove its measurable target altogether"
    )
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
    """Run `objective add|list|edit|retire`; 0 on success, 1 when refused."""
    if args.objective_command == "add":
        return _add(args, engine)  # a refusal is reported like any command's (standard error)
    try:
        if args.objective_command == "list":
            return _list(args, settings, engine)
        if args.objective_command == "edit":
            return _edit(args, engine)
        return _retire(args, settings, engine)
    except CsiError as exc:
        print(f"error: {exc} Nothing was changed.")
        return 1


def _target_given(args: argparse.Namespace) -> bool:
    given = (args.kpi, args.sla_target, args.baseline, args.target, args.by)
    return any(value is not None for value in given)


def _target(args: argparse.Namespace, current: TargetInput) -> TargetInput:
    """The target after this command: the options given replace the stored values."""
    kpi, sla_target = current.kpi, current.sla_target_id
    if args.kpi is not None:
        kpi, sla_target = args.kpi, None
    elif args.sla_target is not None:
        kpi, sla_target = None, args.sla_target
    return TargetInput(
        kpi=kpi,
        sla_target_id=sla_target,
        baseline=current.baseline if args.baseline is None else args.baseline,
        target=current.target if args.target is None else args.target,
        target_date=current.target_date if args.by is None else args.by,
    )


def _add(args: argparse.Namespace, engine: Engine) -> int:
    with session_scope(engine) as session:
        objective = objectives.add_objective(
            session=session,
            title=args.title,
            weight=args.weight,
            description=args.description,
            target=_target(args, TargetInput()) if _target_given(args) else None,
        )
        print(f"Added objective {objective.id}: {objective.title} (weight {objective.weight:g})")
        if objective.kpi:
            print(f"  target: {_target_words(objective)}")
    return 0


def _edit(args: argparse.Namespace, engine: Engine) -> int:
    plain = (args.title, args.description, args.weight)
    if all(v is None for v in plain) and not _target_given(args) and not args.no_target:
        print(
            "error: give --title, --description, --weight or a target (--kpi, --sla-target, "
            "--baseline, --target, --by, --no-target). Nothing was changed."
        )
        return 1
    if args.no_target and _target_given(args):
        print("error: --no-target removes the target; give no other target option with it.")
        return 1
    with session_scope(engine) as session:
        target = None
        if args.no_target:
            target = TargetInput()
        elif _target_given(args):
            current = objectives.get(session=session, objective_id=args.id)
            target = _target(args, objectives.target_of(current))
        objective, changed = objectives.edit_objective(
            session=session,
            objective_id=args.id,
            title=args.title,
            description=args.description,
            weight=args.weight,
            target=target,
        )
        what = "Saved" if changed else "Nothing changed for"
        print(f"{what} objective {objective.id}: {objective.title} (weight {objective.weight:g})")
        if target is not None:
            print(f"  target: {_target_words(objective) if objective.kpi else 'none'}")
    return 0


def _target_words(objective: Objective) -> str:
    from bot.blocks.objective_progress import target_words

    return target_words(
        kpi=objective.kpi or "",
        baseline=objective.kpi_baseline,
        target=objective.kpi_target,
        target_date=objective.kpi_target_date,
    )


def _list(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from bot.blocks.objective_progress import progress_summary

    with session_scope(engine) as session:
        found = objective_progress.progress(
            session=session,
            objectives=repo.list_objectives(session=session),
            now=utcnow(),
            timezone=settings.timezone,
            with_verified=args.format == "json",
        )
    if args.format == "json":
        rows = [objective_progress.progress_json(p) for p in found]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return 0
    if not found:
        print('No objectives yet. Add one: csi-bot objective add "TITLE" [--weight W]')
    for p in found:
        o = p.objective
        print(f"{o.id}\t{o.title}\tweight {o.weight:g}\t{progress_summary(p, markup=False)}")
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
