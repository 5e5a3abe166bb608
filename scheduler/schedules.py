"""When the cron jobs fire: the CSI_*_CRON settings as APScheduler triggers in CSI_TIMEZONE, the
slot a run belongs to, and the period key that makes it run once.

A period is the slot's wall-clock time in CSI_TIMEZONE ("2026-03-30T09:00"). On the night the
clocks go back APScheduler fires a 02:30 job at both 02:30s; both are one period, so the job runs
once. On the night they go forward a 02:30 that does not exist fires once, an hour later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.settings import Settings, SettingsError

# How far back a run missed while no replica was up (or the scheduler was busy) is still made
# up for; older ones are left, and the next firing posts the next period.
MISFIRE_GRACE = timedelta(hours=12)
# Windows tried in turn when looking for the latest firing; a year covers any 5-field cron.
_LOOKBACK = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
)


def cron_trigger(
    *, name: str, expression: str, timezone: str, example: str, seconds: bool = False
) -> CronTrigger:
    """The cron setting `name` as a trigger in `timezone`; a SettingsError that says how to write
    it when it is not a cron expression. With `seconds` (CSI_CRON_SECONDS, for tests) a sixth,
    leading seconds field is accepted too."""
    fields = expression.split()
    try:
        if seconds and len(fields) == 6:
            second, minute, hour, day, month, day_of_week = fields
            return CronTrigger(
                second=second,
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=day_of_week,
                timezone=timezone,
            )
        return CronTrigger.from_crontab(expression, timezone=timezone)
    except ValueError as exc:
        raise SettingsError(
            f"{name}={expression!r} is not a cron expression ({exc}). Give five fields, minute "
            f"hour day-of-month month day-of-week, e.g. {example} in CSI_TIMEZONE."
        ) from exc


def digest_trigger(settings: Settings) -> CronTrigger:
    """CSI_DIGEST_CRON in CSI_TIMEZONE."""
    return cron_trigger(
        name="CSI_DIGEST_CRON",
        expression=settings.digest_cron,
        timezone=settings.timezone,
        example="'0 9 * * MON' (Mondays at 09:00)",
        seconds=settings.cron_seconds,
    )


def poll_trigger(settings: Settings) -> CronTrigger:
    """CSI_POLL_CRON in CSI_TIMEZONE."""
    return cron_trigger(
        name="CSI_POLL_CRON",
        expression=settings.poll_cron,
        timezone=settings.timezone,
        example="'0 10 1 * *' (the 1st of each month at 10:00)",
        seconds=settings.cron_seconds,
    )


def next_slot(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The first firing at or after `now`."""
    # In UTC: arithmetic on a local time near a clock change would step back an hour.
    fire: datetime | None = trigger.get_next_fire_time(None, now.astimezone(UTC))
    return fire


def latest_slot(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The last firing at or before `now` (within a year), or None."""
    for window in _LOOKBACK:
        latest = None
        fire = next_slot(trigger, now - window)
        while fire is not None and fire <= now:
            latest = fire
            fire = next_slot(trigger, fire.astimezone(UTC) + timedelta(microseconds=1))
            if fire is not None and fire <= latest:
                break  # never loop on a firing that does not move on
        if latest is not None:
            return latest
    return None


def period_key(slot: datetime, timezone: str | None = None) -> str:
    """The period of the firing at `slot`: its wall-clock time in the trigger's time zone (the
    zone of `slot` as the trigger gave it, or `timezone`), to the minute, or to the second when
    the cron has seconds."""
    local = slot if timezone is None else slot.astimezone(ZoneInfo(timezone))
    wall = local.replace(tzinfo=None)
    return wall.isoformat(timespec="seconds" if wall.second else "minutes")
