"""What the Home tab and `/improve list` show a person. Plain Python over storage, no Slack.

Every list is read with a LIMIT and a COUNT, so the Home tab costs the same with fifty
proposals as with fifty thousand; the priority is computed by the database (the formula of
bot.scoring) so that the top of the register is found without loading it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Float, case, cast, func
from sqlmodel import Session, col, select

from bot import objective_progress, scoring
from bot.lifecycle import ACTIVE, Status
from bot.objective_progress import ObjectiveProgress
from bot.polls.standing import poll_shares
from bot.proposals import ProposalSummary, summarise
from storage.models import AuditEntry, Objective, Proposal, Vote
from storage.types import utcnow

T = TypeVar("T")

# How many of each list the Home tab shows; the rest are counted ("and N more").
MINE_MAX = 10
WAITING_FOR_OBJECTIVE_MAX = 5
TOP_MAX = 5
OBJECTIVES_MAX = 15
UNSERVED_MAX = 10
DECISIONS_MAX = 5
WAITING_FOR_DECISION_MAX = 10
# How many proposals `/improve list` shows.
LIST_MAX = 20

# The steering group's decisions, as they appear in the history.
DECIDED = ("approved", "rejected", "deferred")
# A proposal counts as serving its objective while it is work to coordinate.
SERVING = tuple(sorted(ACTIVE | {"deferred"}))


@dataclass(frozen=True)
class Cut(Generic[T]):
    """The first items of a list and how many it has in all."""

    items: list[T]
    total: int

    @property
    def more(self) -> int:
        """How many are not shown."""
        return max(self.total - len(self.items), 0)


@dataclass(frozen=True)
class ObjectiveLoad:
    """An objective and how many proposals serve it."""

    objective: Objective
    proposals: int


@dataclass(frozen=True)
class Decision:
    """A steering decision from the history: which proposal, what, by whom, when."""

    proposal: Proposal
    status: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class HomeContent:
    """Everything the Home tab shows one viewer."""

    viewer: str
    steering: bool
    mine: Cut[ProposalSummary]
    needs_objective: Cut[ProposalSummary]
    top: list[ProposalSummary]
    objectives: Cut[ObjectiveLoad]
    unserved: Cut[Objective]
    decisions: list[Decision]
    waiting_for_decision: Cut[ProposalSummary] | None = field(default=None)
    # How far each objective shown got (by objective ID), and how many are neglected in all.
    progress: dict[int, ObjectiveProgress] = field(default_factory=dict)
    neglected: int = 0


@dataclass(frozen=True)
class RegisterFigures:
    """The part of the Home tab that is the same for everyone: the register's top, its
    objectives and their progress, the gaps, the latest decisions, and what waits for the
    steering group. Reading it is most of a Home tab's cost on a large register, so Home tabs
    published together share one reading."""

    top: list[ProposalSummary]
    objectives: Cut[ObjectiveLoad]
    unserved: Cut[Objective]
    decisions: list[Decision]
    waiting_for_decision: Cut[ProposalSummary]
    progress: dict[int, ObjectiveProgress]
    neglected: int


def register_figures(*, session: Session, timezone: str = "UTC") -> RegisterFigures:
    """The figures every Home tab shows, read once (see `RegisterFigures`)."""
    loads = objective_loads(session=session, limit=OBJECTIVES_MAX)
    progress = objective_progress.progress(
        session=session,
        objectives=[load.objective for load in loads.items],
        now=utcnow(),
        timezone=timezone,
        with_verified=False,
    )
    return RegisterFigures(
        top=ranked(session=session, statuses=(Status.OPEN, Status.APPROVED), limit=TOP_MAX).items,
        objectives=loads,
        unserved=unserved_objectives(session=session, limit=UNSERVED_MAX),
        decisions=recent_decisions(session=session, limit=DECISIONS_MAX),
        waiting_for_decision=_proposals(
            session=session,
            where=[Proposal.status == Status.OPEN],
            newest_first=False,
            limit=WAITING_FOR_DECISION_MAX,
        ),
        progress={p.objective.id or 0: p for p in progress},
        neglected=objective_progress.count_neglected(session=session),
    )


def home_content(
    *,
    session: Session,
    viewer: str,
    steering: bool,
    timezone: str = "UTC",
    figures: RegisterFigures | None = None,
) -> HomeContent:
    """What the Home tab shows `viewer`; the waiting section only for the steering group.
    `figures`: the register's figures read for several Home tabs at once (read here if None)."""
    if figures is None:
        figures = register_figures(session=session, timezone=timezone)
    mine = _proposals(
        session=session, where=[Proposal.submitter == viewer], newest_first=True, limit=MINE_MAX
    )
    needs_objective = _proposals(
        session=session,
        where=[Proposal.submitter == viewer, Proposal.status == Status.NEEDS_OBJECTIVE],
        newest_first=True,
        limit=WAITING_FOR_OBJECTIVE_MAX,
    )
    return HomeContent(
        viewer=viewer,
        steering=steering,
        mine=mine,
        needs_objective=needs_objective,
        top=figures.top,
        objectives=figures.objectives,
        unserved=figures.unserved,
        decisions=figures.decisions,
        waiting_for_decision=figures.waiting_for_decision if steering else None,
        progress=figures.progress,
        neglected=figures.neglected,
    )


def _proposals(
    *, session: Session, where: Sequence[Any], newest_first: bool, limit: int
) -> Cut[ProposalSummary]:
    order = col(Proposal.id).desc() if newest_first else col(Proposal.id)
    rows = list(session.exec(select(Proposal).where(*where).order_by(order).limit(limit)))
    total = session.exec(select(func.count()).select_from(Proposal).where(*where)).one()
    return Cut(summarise(session=session, proposals=rows), int(total))


def _priority(poll_share: dict[int, float]) -> Any:
    """bot.scoring.priority as an SQL expression over a proposal, its objective, its votes and
    its share of the last prioritisation poll (at most ten proposals have one)."""
    votes = (
        select(func.count())
        .select_from(Vote)
        .where(col(Vote.proposal_id) == col(Proposal.id))
        .scalar_subquery()
    )
    weight = func.coalesce(col(Objective.weight), 1.0)
    value = cast(func.coalesce(col(Proposal.value), scoring.DEFAULT_VALUE), Float)
    days = case(
        (col(Proposal.effort_days) > 0, col(Proposal.effort_days)),
        else_=scoring.DEFAULT_EFFORT_DAYS,
    )
    poll = (
        case(
            {pid: 1 + min(max(share, 0.0), 1.0) for pid, share in poll_share.items()},
            value=col(Proposal.id),
            else_=1.0,
        )
        if poll_share
        else 1.0
    )
    score = weight * value * (1 + func.ln(1 + cast(votes, Float))) * poll
    return score / func.sqrt(cast(days, Float))


def ranked(
    *,
    session: Session,
    statuses: Sequence[str],
    objective_id: int | None = None,
    limit: int = LIST_MAX,
) -> Cut[ProposalSummary]:
    """Proposals in these statuses (serving one objective, if given), highest priority first."""
    where: list[Any] = [col(Proposal.status).in_(list(statuses))]
    if objective_id is not None:
        where.append(Proposal.objective_id == objective_id)
    statement = (
        select(Proposal)
        .outerjoin(Objective, col(Objective.id) == col(Proposal.objective_id))
        .where(*where)
        .order_by(_priority(poll_shares(session=session)).desc(), col(Proposal.id))
        .limit(limit)
    )
    rows = list(session.exec(statement))
    total = session.exec(select(func.count()).select_from(Proposal).where(*where)).one()
    return Cut(summarise(session=session, proposals=rows), int(total))


def objective_loads(*, session: Session, limit: int) -> Cut[ObjectiveLoad]:
    """Active objectives, the heaviest first, each with how many proposals serve it."""
    serving = (
        select(func.count())
        .select_from(Proposal)
        .where(
            col(Proposal.objective_id) == col(Objective.id),
            col(Proposal.status).in_(SERVING),
        )
        .scalar_subquery()
    )
    active = col(Objective.active).is_(True)
    statement = (
        select(Objective, serving)
        .where(active)
        .order_by(col(Objective.weight).desc(), col(Objective.title))
        .limit(limit)
    )
    rows = [ObjectiveLoad(objective, int(n)) for objective, n in session.exec(statement)]
    total = session.exec(select(func.count()).select_from(Objective).where(active)).one()
    return Cut(rows, int(total))


def unserved_objectives(*, session: Session, limit: int) -> Cut[Objective]:
    """Active objectives that no proposal serves yet: the gaps in the plan."""
    served = select(Proposal.objective_id).where(
        col(Proposal.objective_id).is_not(None), col(Proposal.status).in_(SERVING)
    )
    where = [col(Objective.active).is_(True), col(Objective.id).not_in(served)]
    rows = list(
        session.exec(select(Objective).where(*where).order_by(col(Objective.title)).limit(limit))
    )
    total = session.exec(select(func.count()).select_from(Objective).where(*where)).one()
    return Cut(rows, int(total))


def recent_decisions(*, session: Session, limit: int) -> list[Decision]:
    """The latest steering decisions (approved, rejected, deferred), newest first."""
    statement = (
        select(AuditEntry, Proposal)
        .join(Proposal, col(Proposal.id) == col(AuditEntry.proposal_id))
        .where(col(AuditEntry.to_status).in_(DECIDED))
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(limit)
    )
    return [
        Decision(proposal=p, status=str(e.to_status), actor=e.actor, at=e.at)
        for e, p in session.exec(statement)
    ]


# ---- /improve list -------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """What `/improve list <filter>` answers: a heading, the proposals, and the hint to see more."""

    heading: str
    proposals: Cut[ProposalSummary]
    empty: str


def listing(*, session: Session, word: str | None, viewer: str, limit: int = LIST_MAX) -> Listing:
    """`/improve list [mine|open|approved|<objective>]`; an objective is named by its title (or
    the start of it, when only one objective starts so)."""
    choice = " ".join((word or "").split())
    key = choice.casefold()
    if key == "mine":
        mine = _proposals(
            session=session, where=[Proposal.submitter == viewer], newest_first=True, limit=limit
        )
        return Listing("Your proposals, newest first", mine, "You have not proposed anything yet.")
    if key in ("open", "approved"):
        found = ranked(session=session, statuses=(key,), limit=limit)
        return Listing(
            f"{key.capitalize()} proposals, highest priority first",
            found,
            f"No proposal is {key} right now.",
        )
    if not key:
        found = ranked(session=session, statuses=(Status.OPEN, Status.APPROVED), limit=limit)
        return Listing(
            "Open and approved proposals, highest priority first",
            found,
            "The register has no open or approved proposals yet.",
        )
    objective = objective_named(session=session, name=choice)
    found = ranked(session=session, statuses=SERVING, objective_id=objective.id or 0, limit=limit)
    return Listing(
        f"Proposals serving “{objective.title}”, highest priority first",
        found,
        "No proposal serves it yet.",
    )


class UnknownObjective(LookupError):
    """No active objective, or more than one, answers to the name typed."""

    def __init__(self, name: str, candidates: list[Objective]) -> None:
        self.name, self.candidates = name, candidates
        super().__init__(name)


def objective_named(*, session: Session, name: str) -> Objective:
    """The active objective with this title (any case), else the only one whose title starts
    with it; UnknownObjective lists the candidates otherwise."""
    active = col(Objective.active).is_(True)
    exact = session.exec(
        select(Objective).where(active, func.lower(Objective.title) == name.casefold())
    ).first()
    if exact is not None:
        return exact
    pattern = name.casefold().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    starting = list(
        session.exec(
            select(Objective)
            .where(active, func.lower(Objective.title).like(pattern + "%", escape="\\"))
            .order_by(col(Objective.title))
            .limit(6)
        )
    )
    if len(starting) == 1:
        return starting[0]
    raise UnknownObjective(name, starting)
