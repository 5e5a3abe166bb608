"""Exactly once per period, completed after a crash.

A run claims `(job, period)` in `job_runs`, keeps the Slack message it posted (its ts) as soon
as Slack answers, and then marks itself done. A run that fails is given back (due again) and
the next tick tries once more. A claim left by a replica that died is taken over: at once when
PostgreSQL says its leader session is gone, otherwise when its lease runs out. Whoever takes
over learns the message already posted (the stored ts) so that it updates it instead of posting
a second one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import metrics
from bot.deps import Deps
from scheduler.leader import Leadership
from storage import job_runs
from storage.types import utcnow

log = logging.getLogger(__name__)

# Longer than the slowest run (a digest with its chart and thread, each call retried on rate
# limits): a live run is never taken over for its lease. A dead leader's run is taken over at
# once on PostgreSQL, without waiting for it.
LEASE = timedelta(minutes=15)


@dataclass
class Claim:
    """This replica's claim on one run."""

    deps: Deps
    job: str
    period: str
    due_at: datetime
    owner: str
    taken_over: bool = False  # an earlier attempt claimed it: it may have posted already
    channel: str | None = None
    ts: str | None = None
    started: float = field(default_factory=time.monotonic)

    def record_message(self, channel: str, ts: str) -> None:
        """Keep the message this run posted, at once: a replica that takes over updates it."""
        self.channel, self.ts = channel, ts
        with self.deps.session() as session:
            job_runs.record_message(
                session=session,
                job=self.job,
                period=self.period,
                owner=self.owner,
                channel=channel,
                ts=ts,
            )


def claim(
    *,
    deps: Deps,
    leadership: Leadership,
    job: str,
    period: str,
    due_at: datetime,
    now: datetime | None = None,
) -> Claim | None:
    """Claim the run of `job` for `period`; None (logged and counted) when it is done already
    or another live run holds it."""
    now = now or utcnow()
    owner = leadership.owner
    until = now + LEASE
    with deps.session() as session:
        if job_runs.insert_claimed(
            session=session,
            job=job,
            period=period,
            due_at=due_at,
            owner=owner,
            until=until,
            now=now,
        ):
            return Claim(deps=deps, job=job, period=period, due_at=due_at, owner=owner)
    with deps.session() as session:
        seen = job_runs.get_run(session=session, job=job, period=period)
        if seen is None:
            return None
        outcome = _not_takeable(seen, leadership, now)
        # Read before the update, which refreshes `seen` in the session.
        taken = Claim(
            deps=deps,
            job=job,
            period=period,
            due_at=seen.due_at or due_at,
            owner=owner,
            taken_over=seen.attempts > 0,
            channel=seen.channel,
            ts=seen.message_ts,
        )
        if outcome is None and job_runs.take_run(
            session=session, seen=seen, owner=owner, until=until, now=now
        ):
            return taken
    outcome = outcome or "busy"
    report(job=job, period=period, outcome=outcome)
    return None


def _not_takeable(seen: job_runs.JobRun, leadership: Leadership, now: datetime) -> str | None:
    if seen.status == job_runs.DUE:
        return None
    if seen.status != job_runs.RUNNING:
        return "done_already" if seen.status == job_runs.DONE else seen.status
    expired = seen.claimed_until is None or seen.claimed_until < now
    if expired or (seen.owner is not None and leadership.is_gone(seen.owner)):
        return None
    return "busy"


def finish(claim: Claim, *, outcome: str, note: str = "") -> None:
    """Mark the run done and report it."""
    with claim.deps.session() as session:
        kept = job_runs.finish(
            session=session,
            job=claim.job,
            period=claim.period,
            owner=claim.owner,
            note=(note or outcome)[:200],
            now=utcnow(),
        )
    report(
        job=claim.job,
        period=claim.period,
        outcome=outcome if kept else "taken_over_meanwhile",
        claim=claim,
    )


def give_back(claim: Claim, *, error: str) -> None:
    """The run failed: it is due again, and the next tick tries it once more."""
    with claim.deps.session() as session:
        job_runs.give_back(
            session=session,
            job=claim.job,
            period=claim.period,
            owner=claim.owner,
            note=error[:200],
        )
    report(job=claim.job, period=claim.period, outcome="failed", claim=claim, error=error)


def report(
    *,
    job: str,
    period: str | None,
    outcome: str,
    claim: Claim | None = None,
    error: str | None = None,
) -> None:
    """One structured log line and one count per run."""
    metrics.JOB_RUNS.labels(job=job, outcome=outcome).inc()
    fields = [f"event=job_run job={job} period={period or '-'} outcome={outcome}"]
    if claim is not None:
        fields.append(f"replica={claim.owner}")
        fields.append(f"took_s={time.monotonic() - claim.started:.2f}")
        if claim.taken_over:
            fields.append("taken_over=true")
        if claim.ts:
            fields.append(f"message={claim.channel}/{claim.ts}")
    if error:
        fields.append(f"error={error[:160]!r}")
    level = logging.WARNING if outcome == "failed" else logging.INFO
    log.log(level, " ".join(fields))
