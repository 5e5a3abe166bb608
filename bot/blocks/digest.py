"""The weekly SLA digest: the summary message with the unaddressed breaches first, and the
details of every target for its thread."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from bot.blocks.kit import Block, context, count, header, plain, section, sections
from bot.ids import ActionId, BlockId
from bot.mrkdwn import escape, link, truncate
from bot.sla.evaluation import Digest, TargetResult
from storage.models import TITLE_MAX

# Slack refuses a message of more than 50 blocks.
BLOCKS_PER_MESSAGE = 50
# Unaddressed breaches with their button in the summary message; the rest open its thread.
BREACHES_IN_MESSAGE = 20
# Proposals named on one target's line; the rest are counted.
PROPOSALS_PER_LINE = 3

COMPARATORS = {">=": "≥", "<=": "≤", ">": "&gt;", "<": "&lt;"}
LOOKALIKE_BACKTICK = "\u02cb"  # as bot.mrkdwn shows a backtick in user text


@dataclass(frozen=True)
class ProposalRef:
    """How a proposal that addresses a target is named: its number, title and card link."""

    id: int
    title: str
    permalink: str | None = None


@dataclass(frozen=True)
class SlackMessage:
    """One message to post: fallback text and blocks."""

    text: str
    blocks: list[Block]


def period_label(digest: Digest) -> str:
    """The period as people read it in the digest's time zone: "17 Nov to 23 Nov 2026"."""
    zone = ZoneInfo(digest.timezone)
    first = digest.period_start.astimezone(zone).date()
    # The end is exclusive (midnight after the last day).
    last = (digest.period_end.astimezone(zone) - timedelta(microseconds=1)).date()
    if first.year != last.year:
        return f"{first:%-d %b %Y} to {last:%-d %b %Y}"
    return f"{first:%-d %b} to {last:%-d %b %Y}"


def number(value: float, unit: str | None = None) -> str:
    """A measured or target value as people read it: 512.3 ms, 99.95 %, 12,400."""
    shown = f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    return f"{shown} {unit}" if unit else shown


def code(text: str) -> str:
    """User text as inline code: shown as typed (`response_ms`, not formatted), never a mention
    or a link, and unable to close the code span."""
    inert = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"`{inert.replace('`', LOOKALIKE_BACKTICK)}`"


def target_name(result: TargetResult) -> str:
    """The service in bold and the aggregate of the metric (escaped mrkdwn)."""
    return f"*{escape(result.service)}* · {result.aggregate} of {code(result.metric)}"


def _unit(result: TargetResult) -> str | None:
    return escape(result.unit) if result.unit else None


def verdict(result: TargetResult) -> str:
    """Breached, met, too few samples or no measurements, with its emoji."""
    if result.actual is None:
        return ":white_circle: no measurements"
    if not result.enough_samples or result.breached is None:
        return (
            f":white_circle: too few samples for a verdict "
            f"({result.samples} of {result.min_samples} needed)"
        )
    return ":red_circle: breached" if result.breached else ":large_green_circle: met"


def trend(result: TargetResult) -> str:
    """The arrow of the change since the previous period, and whether that is better."""
    if result.previous is None or result.actual is None:
        return "no previous period to compare"
    change = result.actual - result.previous
    arrow = "→" if change == 0 else ("↑" if change > 0 else "↓")
    word = {"better": ", better", "worse": ", worse"}.get(result.trend or "", "")
    return f"{arrow} from {number(result.previous, _unit(result))}{word}"


def _actual_vs_target(result: TargetResult) -> str:
    actual = "—" if result.actual is None else number(result.actual, _unit(result))
    goal = f"{COMPARATORS.get(result.comparator, escape(result.comparator))} "
    return f"*{actual}* vs target {goal}{number(result.target, _unit(result))}"


def _proposals(result: TargetResult, proposals: Mapping[int, ProposalRef]) -> str:
    if not result.proposals:
        return "no open proposal addresses it"
    named = []
    for proposal_id in result.proposals[:PROPOSALS_PER_LINE]:
        found = proposals.get(proposal_id)
        title = truncate(found.title, 60) if found else ""
        named.append(link(found.permalink if found else None, f"#{proposal_id} {title}".strip()))
    more = len(result.proposals) - len(named)
    return "addressed by " + ", ".join(named) + (f" and {more} more" if more > 0 else "")


def target_line(result: TargetResult, proposals: Mapping[int, ProposalRef]) -> str:
    """Every fact of one target on one line."""
    return (
        f"• {result.aggregate} of {code(result.metric)}: {_actual_vs_target(result)} · "
        f"{verdict(result)} · {trend(result)} · {_proposals(result, proposals)}"
    )


def breach_block(result: TargetResult) -> Block:
    """An unaddressed breach with its "Propose an improvement" button (value: the target ID)."""
    return section(
        f":red_circle: {target_name(result)}: {_actual_vs_target(result)} · {trend(result)}",
        accessory={
            "type": "button",
            "action_id": ActionId.PROPOSE_IMPROVEMENT,
            "text": plain("Propose an improvement"),
            "value": str(result.target_id),
        },
    )


def _tally(digest: Digest) -> str:
    breached = sum(1 for r in digest.targets if r.breached is True)
    met = sum(1 for r in digest.targets if r.breached is False)
    open_ = len(digest.targets) - breached - met
    parts = [f"*{count(len(digest.targets), 'target')}*: {met} met, {breached} breached"]
    if open_:
        parts.append(f"{open_} without a verdict (too few samples or no measurements)")
    return ", ".join(parts) + "."


def nothing_to_report(digest: Digest) -> SlackMessage | None:
    """The short message of a digest with no targets or no measurements; None otherwise."""
    period = period_label(digest)
    if not digest.targets:
        text = (
            f"SLA digest for {period}: no service level targets are defined yet, so there is "
            "nothing to report. Add one with `csi-bot sla target add`."
        )
    elif digest.measurements == 0:
        text = (
            f"SLA digest for {period}: no measurements arrived for any of the "
            f"{count(len(digest.targets), 'target')} in this period, so none could be evaluated. "
            "Measurements come in with `csi-bot sla import` or `POST /api/measurements`."
        )
    else:
        return None
    return SlackMessage(text=text, blocks=[section(text)])


def summary_message(digest: Digest) -> SlackMessage:
    """The digest's message in the channel: the tally, then the breaches no open proposal
    addresses, each with its button; the details follow in the thread."""
    period = period_label(digest)
    blocks: list[Block] = [header(f"SLA digest: {period}"), section(_tally(digest))]
    unaddressed = digest.unaddressed
    if unaddressed:
        blocks.append(
            section(
                f"*{count(len(unaddressed), 'breach', 'breaches')} no open proposal addresses:*"
            )
        )
        blocks += [breach_block(r) for r in unaddressed[:BREACHES_IN_MESSAGE]]
        rest = len(unaddressed) - BREACHES_IN_MESSAGE
        if rest > 0:
            blocks.append(context(f"{count(rest, 'more breach', 'more breaches')} in the thread."))
    else:
        blocks.append(section("Every breached target has an open proposal that addresses it."))
    blocks.append(context("Every target, its trend and its proposals are in the thread."))
    text = (
        f"SLA digest for {period}: {count(len(digest.targets), 'target')}, "
        f"{count(len(unaddressed), 'breach', 'breaches')} no proposal addresses."
    )
    return SlackMessage(text=text, blocks=blocks)


def detail_messages(digest: Digest, proposals: Mapping[int, ProposalRef]) -> list[SlackMessage]:
    """The thread: the unaddressed breaches the summary had no room for (with their buttons),
    then every target by service; split into messages of at most 50 blocks."""
    blocks: list[Block] = [breach_block(r) for r in digest.unaddressed[BREACHES_IN_MESSAGE:]]
    ordered = sorted(digest.targets, key=lambda r: (r.service.lower(), r.metric, r.target_id))
    for _, group in groupby(ordered, key=lambda r: r.service.lower()):
        results = list(group)
        blocks += sections(
            f"*{escape(results[0].service)}*",
            [target_line(r, proposals) for r in results],
            empty="",
        )
    pages = [
        blocks[start : start + BLOCKS_PER_MESSAGE]
        for start in range(0, len(blocks), BLOCKS_PER_MESSAGE)
    ]
    period = period_label(digest)
    return [
        SlackMessage(
            text=f"SLA digest for {period}, details"
            + (f" ({n} of {len(pages)})" if len(pages) > 1 else ""),
            blocks=page,
        )
        for n, page in enumerate(pages, start=1)
    ]


def chart_title(digest: Digest) -> str:
    """The chart's title and the uploaded file's title."""
    return f"SLA attainment against target, {period_label(digest)}"


def chart_alt_text(digest: Digest) -> str:
    """What a screen reader says of the chart."""
    breached = sum(1 for r in digest.targets if r.breached is True)
    return (
        f"Bar chart of attainment against target for {count(len(digest.targets), 'target')}, "
        f"{breached} breached, worst first."
    )


def _plain_number(value: float, unit: str | None) -> str:
    return f"{value:g} {unit}" if unit else f"{value:g}"


def improvement_form_values(result: TargetResult, digest: Digest) -> dict[str, str | None]:
    """What the proposal form is pre-filled with for a breached target: its service, the KPI
    (the aggregate of the metric), the measured baseline and the target (form values, plain)."""
    kpi = f"{result.aggregate} of {result.metric}" + (f" ({result.unit})" if result.unit else "")
    goal = f"{_PLAIN_COMPARATORS.get(result.comparator, result.comparator)} "
    goal += _plain_number(result.target, result.unit)
    if result.actual is None:
        now = f"{result.service}: no {result.metric} measurements in {period_label(digest)}"
    else:
        measured = _plain_number(result.actual, result.unit)
        now = f"{result.service}: the {kpi} was {measured} in {period_label(digest)}"
    return {
        BlockId.SERVICE: result.service,
        BlockId.KPI: truncate(kpi, TITLE_MAX),
        BlockId.KPI_BASELINE: None if result.actual is None else f"{result.actual:g}",
        BlockId.KPI_TARGET: f"{result.target:g}",
        BlockId.DESCRIPTION: f"{now}, against a target of {goal}.",
    }


_PLAIN_COMPARATORS = {">=": "≥", "<=": "≤", ">": "more than", "<": "less than"}
