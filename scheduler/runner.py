"""The APScheduler that runs the jobs inside `csi-bot serve`."""

from __future__ import annotations

from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient

from bot.deps import Deps
from scheduler import benefit_checks, digest, jobs, objective_digest, polls


def build_scheduler(*, deps: Deps, client: WebClient) -> BackgroundScheduler:
    """A scheduler with every job; not started."""
    timezone = deps.settings.timezone
    # Parsed first: a CSI_DIGEST_CRON that is not a cron expression stops start-up (SettingsError).
    digest_trigger = digest.digest_trigger(deps.settings)
    poll_trigger = polls.poll_trigger(deps.settings)
    scheduler = BackgroundScheduler(
        timezone=timezone,
        job_defaults={
            # A job missed while the bot was down runs once on start-up, not once per missed slot.
            "coalesce": True,
            "misfire_grace_time": 3600,
            "max_instances": 1,
        },
    )
    # Tried every working hour; the daily period claim makes only the first try send anything,
    # so a replica that was down at nine still reminds people later that day.
    scheduler.add_job(
        jobs.remind_missing_objectives,
        CronTrigger(hour="9-17", minute=5, timezone=timezone),
        kwargs={"deps": deps, "client": client},
        id="objective_reminders",
        replace_existing=True,
    )
    # Tried every working hour: each question is claimed before it is sent, so only the first
    # try (on any replica) asks, and a replica that was down at nine still asks later that day.
    scheduler.add_job(
        benefit_checks.ask_for_benefit,
        CronTrigger(hour="9-17", minute=15, timezone=timezone),
        kwargs={"deps": deps, "client": client},
        id="benefit_checks",
        replace_existing=True,
    )
    # Weekly, for the steering group: proposals still without an objective after a week.
    scheduler.add_job(
        objective_digest.post_objective_digest,
        objective_digest.trigger(timezone),
        kwargs={"deps": deps, "client": client},
        id=objective_digest.JOB,
        replace_existing=True,
    )
    scheduler.add_job(
        jobs.housekeeping,
        CronTrigger(hour=3, minute=17, timezone=timezone),
        kwargs={"deps": deps},
        id="housekeeping",
        replace_existing=True,
    )
    # The card outbox runs at start (cards lost to a crash or a stop) and then every minute.
    scheduler.add_job(
        jobs.post_missing_cards,
        IntervalTrigger(minutes=1, timezone=timezone),
        kwargs={"deps": deps, "client": client},
        id="card_outbox",
        replace_existing=True,
        next_run_time=datetime.now().astimezone(),
    )
    # The SLA digest; its period claim makes it post once per period across replicas.
    scheduler.add_job(
        digest.post_sla_digest,
        digest_trigger,
        kwargs={"deps": deps, "client": client},
        id=digest.JOB,
        replace_existing=True,
    )
    # The prioritisation poll: opened on CSI_POLL_CRON, closed once CSI_POLL_DAYS have passed;
    # each claims its period, so replicas open and close it once.
    scheduler.add_job(
        polls.open_scheduled_poll,
        poll_trigger,
        kwargs={"deps": deps, "client": client},
        id=polls.OPEN_JOB,
        replace_existing=True,
    )
    scheduler.add_job(
        polls.close_due_poll,
        polls.close_trigger(deps.settings),
        kwargs={"deps": deps, "client": client},
        id=polls.CLOSE_JOB,
        replace_existing=True,
    )
    return scheduler
