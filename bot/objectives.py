"""The steering group's objectives: add, edit, retire, search. Plain Python over storage, no Slack.

Only the steering group may change objectives; the callers (the Slack handlers, the CLI run by
the operator) check who acts before they call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from bot.errors import InvalidInput, NotFound
from bot.lifecycle import Status
from storage import repositories as repo
from storage.models import TITLE_MAX, Objective, Proposal

WEIGHT_RULE = "The weight must be greater than 0 and at most 100."
# A select shows at most this many options at once (Slack's limit).
OPTIONS_MAX = 100
# Proposals of a retired objective whose submitter can still choose another one.
CHOOSE_AGAIN = (Status.OPEN,)


def add_objective(
    *,
    session: Session,
    title: str,
    weight: float = 1.0,
    description: str = "",
    actor: str | None = None,
) -> Objective:
    """Create an objective; a duplicate title or a bad weight is refused with a reason."""
    title = _title(title)
    _check_weight(weight)
    if repo.objective_by_title(session=session, title=title) is not None:
        raise InvalidInput({"title": f"An objective called “{title}” already exists."})
    objective = Objective(title=title, weight=weight, description=description, created_by=actor)
    session.add(objective)
    session.flush()
    return objective


def edit_objective(
    *,
    session: Session,
    objective_id: int,
    title: str | None = None,
    description: str | None = None,
    weight: float | None = None,
) -> tuple[Objective, bool]:
    """Change an active objective's title, description or weight (None leaves a field as it is);
    returns it and whether anything changed (a repeated edit changes nothing)."""
    objective = get(session=session, objective_id=objective_id)
    if not objective.active:
        raise InvalidInput({"title": f"Objective {objective_id} is retired; it cannot be edited."})
    before = (objective.title, objective.description, objective.weight)
    if title is not None:
        title = _title(title)
        other = repo.objective_by_title(session=session, title=title)
        if other is not None and other.id != objective.id:
            raise InvalidInput({"title": f"An objective called “{title}” already exists."})
        objective.title = title
    if description is not None:
        objective.description = description.strip()
    if weight is not None:
        _check_weight(weight)
        objective.weight = weight
    changed = (objective.title, objective.description, objective.weight) != before
    if changed:
        session.add(objective)
        session.flush()
    return objective, changed


@dataclass(frozen=True)
class Retired:
    """An objective taken out of use, and the proposals whose submitters must choose again."""

    objective: Objective
    changed: bool
    to_choose_again: list[Proposal]


def retire_objective(*, session: Session, objective_id: int) -> Retired:
    """Retire an objective: no new proposal can serve it. Its open proposals are listed so that
    their submitters can choose another; retiring it again lists nothing (nobody is told twice).
    """
    objective = get(session=session, objective_id=objective_id)
    if not objective.active:
        return Retired(objective=objective, changed=False, to_choose_again=[])
    objective.active = False
    session.add(objective)
    session.flush()
    statement = (
        select(Proposal)
        .where(
            Proposal.objective_id == objective_id,
            col(Proposal.status).in_(list(CHOOSE_AGAIN)),
        )
        .order_by(col(Proposal.submitter), col(Proposal.id))
    )
    return Retired(objective=objective, changed=True, to_choose_again=list(session.exec(statement)))


def get(*, session: Session, objective_id: int) -> Objective:
    """The objective with this number; NotFound says so when there is none."""
    objective = repo.get_objective(session=session, objective_id=objective_id)
    if objective is None:
        raise NotFound(f"Objective {objective_id} does not exist.")
    return objective


def count_active(*, session: Session) -> int:
    """How many objectives a proposal may serve."""
    statement = select(func.count()).select_from(Objective).where(col(Objective.active).is_(True))
    return int(session.exec(statement).one())


def search(*, session: Session, query: str, limit: int = OPTIONS_MAX) -> list[Objective]:
    """Active objectives whose title contains the typed text (any case), or whose number it is;
    by title, at most `limit`."""
    typed = " ".join(query.split())
    statement = select(Objective).where(col(Objective.active).is_(True))
    if typed:
        # LIKE's wildcards in typed text are meant literally.
        pattern = "%" + typed.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        wanted: Any = func.lower(Objective.title).like(pattern + "%", escape="\\")
        number = typed.removeprefix("#")
        if number.isascii() and number.isdigit() and len(number) <= 9:
            wanted = or_(wanted, col(Objective.id) == int(number))
        statement = statement.where(wanted)
    statement = statement.order_by(col(Objective.title)).limit(limit)
    return list(session.exec(statement))


def _title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InvalidInput({"title": "Give the objective a title."})
    if len(title) > TITLE_MAX:
        raise InvalidInput({"title": f"Keep the objective's title to {TITLE_MAX} characters."})
    return title


def _check_weight(weight: float) -> None:
    if not 0 < weight <= 100:
        raise InvalidInput({"weight": WEIGHT_RULE})
