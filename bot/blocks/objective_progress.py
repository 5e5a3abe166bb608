"""How far the objectives got, in Slack: one line each (`/improve objectives`, the App Home tab,
the CLI's text list), the whole picture of one (`/improve objective <id>`) and the weekly
digest's section."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bot import mrkdwn
from bot.blocks.kit import Block, context, count, header, section, sections
from bot.lifecycle import label
from bot.mrkdwn import escape
from bot.objective_progress import STEP_STATUSES, ObjectiveProgress, VerifiedStep
from bot.objective_target import PathState, TargetProgress

# `/improve objectives` and the digest list at most this many; the CLI lists them all.
LIST_MAX = 40
# Verified steps shown in one objective's picture.
VERIFIED_MAX = 15
NEGLECTED = "neglected: no open or approved step"

STATE_WORDS: dict[PathState, str] = {
    PathState.REACHED: ":white_check_mark: reached",
    PathState.ON_TRACK: ":large_green_circle: on track",
    PathState.BEHIND: ":warning: behind",
    PathState.MISSED: ":x: missed",
    PathState.NO_MEASUREMENT: "no measurement yet",
    PathState.NOT_JUDGED: "not judged (no baseline or no date)",
}


def _n(value: float | None, unit: str | None = None) -> str:
    if value is None:
        return "—"
    return f"{value:g}" + (f" {unit}" if unit else "")


def target_words(
    *,
    kpi: str,
    baseline: float | None,
    target: float | None,
    target_date: date | None,
    unit: str | None = None,
) -> str:
    """The target in words: 'Major incidents per month from 10 to 4 by 2026-12-31'."""
    words = kpi
    if baseline is not None:
        words += f" from {_n(baseline, unit)}"
    if target is not None:
        words += f" to {_n(target, unit)}"
    if target_date is not None:
        words += f" by {target_date.isoformat()}"
    return words


def _state(state: PathState, *, markup: bool) -> str:
    words = STATE_WORDS[state]
    return words if markup else words.split(":")[-1].strip()


def _kpi_line(target: TargetProgress, *, markup: bool) -> str:
    """'KPI 6.5 (path 7, target 4 by 2026-12-31): on track'."""
    latest = "no value" if target.latest is None else _n(target.latest.value, target.unit)
    detail = []
    if target.expected is not None and target.state in (PathState.ON_TRACK, PathState.BEHIND):
        detail.append(f"path {_n(round(target.expected, 4), target.unit)}")
    if target.target is not None:
        by = f" by {target.target_date.isoformat()}" if target.target_date else ""
        detail.append(f"target {_n(target.target, target.unit)}{by}")
    inside = f" ({', '.join(detail)})" if detail else ""
    return f"KPI {latest}{inside}: {_state(target.state, markup=markup)}"


def steps_words(found: ObjectiveProgress) -> str:
    """'2 open · 1 approved · 3 verified', or 'no steps yet'."""
    parts = [f"{n} {label(s).lower()}" for s in STEP_STATUSES if (n := found.steps[str(s)])]
    return " · ".join(parts) if parts else "no steps yet"


def progress_details(found: ObjectiveProgress, *, markup: bool = True) -> str:
    """What follows the steps on an objective's line: value and effort, KPI, neglected."""
    parts = []
    if found.total:
        parts.append(f"value {found.value} · {found.effort_days:g} person-days")
    if found.target is not None:
        parts.append(_kpi_line(found.target, markup=markup))
    if found.neglected:
        parts.append(f":warning: {NEGLECTED}" if markup else NEGLECTED)
    return " · ".join(parts)


def progress_summary(found: ObjectiveProgress, *, markup: bool = True) -> str:
    """One objective's progress on one line: steps, value and effort, KPI, neglected."""
    details = progress_details(found, markup=markup)
    return steps_words(found) + (f" · {details}" if details else "")


def progress_line(found: ObjectiveProgress) -> str:
    """`• *Title* (#3, weight 2): …` for the lists in Slack."""
    o = found.objective
    return f"• *{escape(o.title)}* (#{o.id}, weight {o.weight:g}): {progress_summary(found)}"


def objectives_list(found: Sequence[ObjectiveProgress]) -> str:
    """`/improve objectives`: one line each, then where to see one whole."""
    lines = [progress_line(p) for p in found[:LIST_MAX]]
    if len(found) > LIST_MAX:
        lines.append(
            f"…and {count(len(found) - LIST_MAX, 'more objective')}: "
            "`csi-bot objective list` lists them all."
        )
    lines.append("`/improve objective <number>` shows one objective's whole picture.")
    heading = "*The steering group's objectives and how far each got*"
    neglected = sum(1 for p in found if p.neglected)
    if neglected:
        heading += f" · :warning: {neglected} neglected"
    return "\n".join([heading, *lines])


def _verified_line(step: VerifiedStep) -> str:
    name = mrkdwn.link(step.permalink, f"#{step.proposal_id} {step.title}")
    if step.actual is None:
        return f"• {name}: no measured result"
    kpi = f"{escape(' '.join(step.kpi.split()))} " if step.kpi else ""
    result = f"{kpi}{_n(step.baseline)} → {_n(step.actual)} (target {_n(step.target)})"
    mark = {True: " :white_check_mark:", False: " short of the target", None: ""}[step.reached]
    return f"• {name}: {result}{mark}"


def _target_lines(target: TargetProgress) -> list[str]:
    source = "an SLA target" if target.sla_target_id else "a KPI in words"
    lines = [
        f"*Target* ({source}): "
        + escape(
            target_words(
                kpi=target.kpi,
                baseline=target.baseline,
                target=target.target,
                target_date=target.target_date,
                unit=target.unit,
            )
        )
    ]
    if target.latest is None:
        where = (
            "too few measurements in the last 7 days"
            if target.sla_target_id
            else "no step on this KPI has a measured result yet"
        )
        lines.append(f"*Latest value*: none ({where})")
    else:
        how = (
            "over the last 7 days" if target.latest.source == "sla" else "a step's measured result"
        )
        lines.append(
            f"*Latest value*: {_n(target.latest.value, target.unit)} ({how}, "
            f"{target.latest.at:%Y-%m-%d})"
        )
    if target.expected is not None:
        lines.append(f"*Where the path is today*: {_n(round(target.expected, 4), target.unit)}")
    lines.append(f"*State*: {STATE_WORDS[target.state]}")
    return lines


def objective_picture(found: ObjectiveProgress) -> tuple[str, list[Block]]:
    """`/improve objective <id>`: the whole picture of one objective."""
    o = found.objective
    text = f"Objective #{o.id} {escape(o.title)}: {progress_summary(found, markup=False)}"
    blocks: list[Block] = [header(f"Objective #{o.id}: {o.title}")]
    about = [f"Weight {o.weight:g}" + ("" if o.active else " · retired")]
    if o.description:
        about.append(escape(mrkdwn.truncate(o.description, 500)))
    blocks.append(context(*about))
    if found.neglected:
        blocks.append(
            section(
                ":warning: *Neglected*: no open or approved step serves it. "
                "`/improve` proposes one."
            )
        )
    steps = [f"{label(s)}: {found.steps[str(s)]}" for s in STEP_STATUSES]
    figures = f"*Steps*: {' · '.join(steps)}"
    if found.total:
        figures += (
            f"\n*Expected value*: {found.value} · *effort*: {found.effort_days:g} person-days"
            + (f" ({count(found.unestimated, 'step')} not estimated)" if found.unestimated else "")
        )
    blocks.append(section(figures))
    if found.target is not None:
        blocks.append(section("\n".join(_target_lines(found.target))))
    else:
        blocks.append(context("No measurable target: the steering group can set one."))
    verified = [_verified_line(s) for s in found.verified[:VERIFIED_MAX]]
    if len(found.verified) > VERIFIED_MAX:
        verified.append(f"…and {count(len(found.verified) - VERIFIED_MAX, 'more')}.")
    blocks += sections(
        f"*Verified steps and their measured results* ({len(found.verified)})",
        verified,
        empty="None yet.",
    )
    blocks.append(
        context(f"`/improve list {escape(o.title)}` lists the proposals serving it by priority.")
    )
    return text, blocks


def digest_section(found: Sequence[ObjectiveProgress]) -> tuple[str, list[Block]]:
    """The weekly digest's reply on the objectives: the neglected ones first, then each
    objective's line (at most LIST_MAX)."""
    neglected = [p for p in found if p.neglected]
    shown = sorted(found, key=lambda p: (not p.neglected,))[:LIST_MAX]
    text = f"How far the objectives got: {count(len(neglected), 'neglected objective')}"
    heading = "*How far the objectives got*"
    if neglected:
        heading += (
            f" · :warning: {count(len(neglected), 'objective')} with no open or approved step"
        )
    lines = [progress_line(p) for p in shown]
    if len(found) > LIST_MAX:
        lines.append(
            f"…and {count(len(found) - LIST_MAX, 'more objective')}: `/improve objectives`."
        )
    return text, sections(heading, lines, empty="The steering group has set no objectives yet.")
