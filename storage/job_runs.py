"""The scheduler's runs in `job_runs`: marked due ahead of time, claimed by one replica, done.

Keyword-only functions over a session; every change is one conditional statement, so that two
replicas (or two threads) acting on the same run cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import literal_column, update
from sqlmodel import Session, col, select

from storage.models import JobRun

DUE = "due"
RUNNING = "running"
DONE = "done"
SKIPPED = "skipped"
UNFINISHED = (DUE, RUNNING)


def _insert_absent(session: Session, values: dict[str, Any]) -> bool:
    # INSERT … ON CONFLICT DO NOTHING on (job, period): both backends speak it.
    from sqlalchemy.dialects import postgresql, sqlite

    postgres = session.get_bind().dialect.name == "postgresql"
    dialect_insert: Any = postgresql.insert if postgres else sqlite.insert
    statement = (
        dialect_insert(JobRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["job", "period"])
        .returning(literal_column("1"))
    )
    return session.execute(statement).first() is not None


def get_run(*, session: Session, job: str, period: str) -> JobRun | None:
    """The run of `job` for `period`, or None."""
    statement = select(JobRun).where(col(JobRun.job) == job, col(JobRun.period) == period)
    return session.exec(statement).first()


def mark_due(*, session: Session, job: str, period: str, due_at: datetime, now: datetime) -> bool:
    """Record that `job` is due for `period` at `due_at`, unless the run is known already."""
    values = {"job": job, "period": period, "status": DUE, "due_at": due_at, "started_at": now}
    return _insert_absent(session, values)


def insert_claimed(
    *,
    session: Session,
    job: str,
    period: str,
    due_at: datetime,
    owner: str,
    until: datetime,
    now: datetime,
) -> bool:
    """Create the run already claimed by `owner`; False when the run exists."""
    values = {
        "job": job,
        "period": period,
        "status": RUNNING,
        "due_at": due_at,
        "owner": owner,
        "claimed_until": until,
        "attempts": 1,
        "started_at": now,
    }
    return _insert_absent(session, values)


def take_run(*, session: Session, seen: JobRun, owner: str, until: datetime, now: datetime) -> bool:
    """Claim the run `seen` for `owner`, provided nobody changed it since it was read."""
    statement: Any = (
        update(JobRun)
        .where(
            col(JobRun.id) == seen.id,
            col(JobRun.status) == seen.status,
            col(JobRun.attempts) == seen.attempts,
        )
        .values(
            status=RUNNING,
            owner=owner,
            claimed_until=until,
            attempts=seen.attempts + 1,
            started_at=now,
        )
        .returning(literal_column("1"))
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).first() is not None


def record_message(
    *, session: Session, job: str, period: str, owner: str, channel: str, ts: str
) -> bool:
    """Keep the Slack message the run posted; False when the run is no longer this owner's."""
    return _owned_update(session, job, period, owner, channel=channel, message_ts=ts)


def finish(
    *, session: Session, job: str, period: str, owner: str, note: str, now: datetime
) -> bool:
    """Mark the run done; False when it is no longer this owner's (it was taken over)."""
    return _owned_update(
        session, job, period, owner, status=DONE, finished_at=now, claimed_until=None, note=note
    )


def give_back(*, session: Session, job: str, period: str, owner: str, note: str) -> bool:
    """Make the run due again (it failed); the message it posted, if any, is kept."""
    return _owned_update(
        session, job, period, owner, status=DUE, owner=None, claimed_until=None, note=note
    )


def _owned_update(session: Session, job: str, period: str, holder: str, **values: Any) -> bool:
    statement: Any = (
        update(JobRun)
        .where(
            col(JobRun.job) == job,
            col(JobRun.period) == period,
            col(JobRun.owner) == holder,
            col(JobRun.status) == RUNNING,
        )
        .values(**values)
        .returning(literal_column("1"))
    )
    return session.execute(statement).first() is not None


def unfinished(*, session: Session, job: str, since: datetime, until: datetime) -> list[JobRun]:
    """Runs of `job` due between `since` and `until` and not done, oldest first."""
    statement = (
        select(JobRun)
        .where(
            col(JobRun.job) == job,
            col(JobRun.status).in_(UNFINISHED),
            col(JobRun.due_at) >= since,
            col(JobRun.due_at) <= until,
        )
        .order_by(col(JobRun.due_at))
    )
    return list(session.exec(statement))


def skip(*, session: Session, runs: Sequence[JobRun], note: str) -> int:
    """Mark runs that will not run (coalesced into a later one) as skipped."""
    skipped = 0
    for run in runs:
        statement: Any = (
            update(JobRun)
            .where(col(JobRun.id) == run.id, col(JobRun.status) == run.status)
            .values(status=SKIPPED, note=note, claimed_until=None)
            .returning(literal_column("1"))
        )
        skipped += session.execute(statement).first() is not None
    return skipped
