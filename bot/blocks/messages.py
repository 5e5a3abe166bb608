"""Messages: the channel card, the objective question, confirmations, help."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot import mrkdwn
from bot.blocks.commands import TITLE_RULE
from bot.blocks.counteracting import counteracts_line
from bot.blocks.decisions import decided_line, next_step_buttons
from bot.blocks.kit import (
    HEADER_MAX,
    Block,
    context,
    count,
    header,
    labelled,
    plain,
    plain_section,
    ref,
    section,
)
from bot.blocks.objectives import objective_select
from bot.blocks.similar import similar_notice, vote_instead_buttons
from bot.ids import ActionId
from bot.lifecycle import VOTABLE, Status, label
from bot.mrkdwn import escape, escape_once, truncate
from bot.proposals import ProposalSummary
from bot.votes import refusal_reason as votes_reason
from storage.models import AuditEntry, Objective, Proposal

if TYPE_CHECKING:  # the engine (numpy) is not needed to draw its matches
    from bot.similar_proposals import SimilarMatch


def no_objectives_message() -> str:
    """Shown when a proposal cannot be given an objective because none exist yet."""
    return (
        "The steering group has not set any objectives yet, and every proposal must serve one. "
        "Ask them to add one (`/improve objective add &lt;title&gt;` or "
        '`csi-bot objective add "&lt;title&gt;"`), then try again.'
    )


def _fields(summary: ProposalSummary) -> list[tuple[str, str]]:
    p = summary.proposal
    value = "—" if p.value is None else str(p.value)
    rows = [
        ("Objective", summary.objective.title if summary.objective else "—"),
        ("Service", p.service or "—"),
        ("Value / effort", f"{value} / {p.effort or '—'}"),
        ("Status", _status(p)),
    ]
    if p.description:
        rows.append(("Where we are now", truncate(p.description, 600)))
    if p.outcome:
        rows.append(("Where we want to be", truncate(p.outcome, 600)))
    if p.kpi:
        rows.append(("KPI", _kpi(p)))
    return rows


def _kpi(p: Proposal) -> str:
    """The KPI with what is known of it: "MTTR (h), from 6.5 to 2", "…, target 2"."""
    baseline = None if p.kpi_baseline is None else f"{p.kpi_baseline:g}"
    target = None if p.kpi_target is None else f"{p.kpi_target:g}"
    if baseline and target:
        return f"{p.kpi}, from {baseline} to {target}"
    if target:
        return f"{p.kpi}, target {target}"
    if baseline:
        return f"{p.kpi}, now {baseline}"
    return p.kpi or ""


def _status(p: Proposal) -> str:
    if p.status == Status.MERGED and p.merged_into_id:
        return f"Merged into #{p.merged_into_id}"
    return label(p.status)


def proposal_card(
    summary: ProposalSummary, *, vote_emoji: str, decision: AuditEntry | None = None
) -> tuple[str, list[Block]]:
    """The channel card of a proposal: fallback text and blocks, with who decided (`decision`,
    the audit entry of the last steering decision) and the buttons of the next step.

    Everything the submitter typed is plain or rich text, so it shows exactly as typed.
    """
    p = summary.proposal
    name = f"{ref(p)} {p.title}"
    blocks: list[Block] = [header(name)]
    if len(name) > HEADER_MAX:  # the header is cut at Slack's limit: the whole title follows
        blocks.append(plain_section(p.title))
    blocks.append(labelled(_fields(summary)))
    votes = f":{vote_emoji}: {count(summary.votes, 'vote')}"
    if p.status in VOTABLE:
        # The same number as `/improve top`, `/improve why` and the export.
        votes += f" · priority {summary.priority:g}"
        invite = f"react with :{vote_emoji}: to vote · discuss in the thread"
    elif p.status == Status.MERGED and p.merged_into_id:
        invite = f"its votes count for #{p.merged_into_id}"
    else:
        invite = "no longer takes votes"
    blocks.append(context(f"Proposed by {mrkdwn.user(p.submitter)} · {votes} · {invite}"))
    if summary.counteracts:
        blocks.append(counteracts_line(p, summary.counteracts))
    decided = decided_line(p, decision)
    if decided is not None:
        blocks.append(decided)
    buttons = next_step_buttons(p)
    if buttons is not None:
        blocks.append(buttons)
    return f"Improvement proposal {ref(p)}: {escape(p.title)}", blocks


def objective_question(
    proposal: Proposal,
    objectives: Sequence[Objective],
    *,
    matches: Sequence[SimilarMatch] = (),
    vote_emoji: str = "+1",
    reminder: bool = False,
) -> tuple[str, list[Block]]:
    """Asks the submitter of a one-line proposal which objective it serves, showing the similar
    proposals already in the register with a 'vote instead' button for each."""
    name = f"*{ref(proposal)} {escape(proposal.title)}*"
    if reminder:
        intro = f"Reminder: your proposal {name} still needs an objective."
    else:
        intro = f"I saved your proposal {name}. It needs an objective."
    intro += " Which of the steering group's objectives does it serve?"
    blocks: list[Block] = [section(intro)]
    if matches:
        blocks += similar_notice(matches, [], vote_emoji=vote_emoji)
        blocks += vote_instead_buttons(matches, new_proposal_id=proposal.id or 0)
    if objectives:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"objective:{proposal.id}",
                "elements": [
                    # A list, or a select that searches as you type past 100 objectives.
                    objective_select(objectives, action_id=ActionId.CHOOSE_OBJECTIVE),
                    {
                        "type": "button",
                        "action_id": ActionId.ADD_DETAILS,
                        "value": str(proposal.id),
                        "text": plain("Add details"),
                    },
                    _discard_button(proposal),
                ],
            }
        )
        blocks.append(
            context(
                "Until it has an objective, it waits here and is not posted to the proposals "
                "channel. Discard withdraws it."
            )
        )
    else:
        blocks.append(section(no_objectives_message()))
        blocks.append({"type": "actions", "elements": [_discard_button(proposal)]})
    return f"Which objective does {ref(proposal)} serve?", blocks


def _discard_button(proposal: Proposal) -> dict[str, Any]:
    """The submitter's one click to take a one-line proposal back (it becomes withdrawn)."""
    return {
        "type": "button",
        "action_id": ActionId.DISCARD,
        "value": str(proposal.id),
        "text": plain("Discard"),
    }


def objective_chosen(
    summary: ProposalSummary, *, channel_id: str | None
) -> tuple[str, list[Block]]:
    """Replaces the question once answered; speaks of the card only when it was posted."""
    p = summary.proposal
    objective = escape(summary.objective.title) if summary.objective else "—"
    if p.message_ts and channel_id:
        card = mrkdwn.link(p.permalink, "its card")
        where = f"It is open for votes: {card} is in <#{channel_id}>."
    else:
        where = "It is open; its card will be posted to the proposals channel."
    text = f":white_check_mark: *{ref(p)} {escape(p.title)}* now serves *{objective}*. {where}"
    return text, [section(text)]


def proposal_stored(
    summary: ProposalSummary, *, card_posted: bool, channel_id: str, card_queued: bool = False
) -> str:
    """Told to the submitter after the modal was submitted. `card_queued`: the card is not
    posted yet, and no post of it has failed (it waits its turn behind a storm of cards)."""
    p = summary.proposal
    if card_posted and p.message_ts:
        link = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
        where = f"<#{p.channel_id or channel_id}>"
        return (
            f":white_check_mark: Your proposal {link} is in the register, and its card is "
            f"posted in {where} for votes."
        )
    name = f"*{ref(p)} {escape(p.title)}*"
    if not channel_id:
        return f":white_check_mark: Your proposal {name} is in the register."
    if card_queued:
        return (
            f":white_check_mark: Your proposal {name} is in the register. Its card waits behind "
            f"others (Slack takes about one a second in a channel) and will be posted in "
            f"<#{channel_id}>."
        )
    return (
        f":warning: Your proposal {name} is in the register, but its card could not be posted "
        f"to <#{channel_id}> yet; I will keep trying. If I am not a member of that channel, "
        "invite me with `/invite @csi-bot`."
    )


def objectives_list(objectives: Sequence[Objective]) -> str:
    """The active objectives, as a message."""
    if not objectives:
        return no_objectives_message()
    lines = [f"• *{escape(o.title)}* (weight {o.weight:g})" for o in objectives]
    return "*The steering group's objectives*\n" + "\n".join(lines)


def help_message(*, vote_emoji: str) -> str:
    """What /improve can do."""
    lines = [
        "*csi-bot: Continual Service Improvement*",
        "`/improve`: open the proposal form (title, current state, desired outcome, objective, "
        "service, benefit, value, effort, KPI).",
        f"`/improve <title>`: propose in one line ({TITLE_RULE}); I ask you which "
        "objective it serves, and you can discard it there.",
        "`/improve list`: the open and approved proposals, highest priority first; "
        "`/improve list mine`, `list open`, `list approved` or `list <objective>` narrows it.",
        "`/improve top [N]`: the N proposals with the highest priority (10 unless given, at "
        "most 25); `/improve why #<number>`: how a proposal's priority is worked out.",
        "`/improve objectives`: the steering group's objectives, each with how far it got; "
        "`/improve objective <number>`: one objective's steps, results and target.",
        "`/improve objective add <title>`: add an objective (steering group only).",
        "`/improve merge #<duplicate> into #<proposal>`: merge a duplicate; its votes move "
        "over (steering group only).",
        "`/improve withdraw #<number>`: withdraw a proposal of yours that is open or still "
        "needs an objective.",
        "`/improve show #<number>`: a proposal with its owner and latest changes; "
        "`/improve history #<number>`: every change, with who and when.",
        "`/improve status #<number> <status>`: move a proposal on (its owner: `in_progress`, "
        "`implemented`; the steering group: `open` to reopen; its submitter: `withdrawn`).",
        "`/improve help`: this help.",
        f"Vote for a proposal by reacting with :{vote_emoji}: on its card.",
        "Steering group: decide with the card's Approve, Reject or Defer, or reply in its "
        "thread `approve`, `reject <reason>`, `defer <reason>` or `assign @person`.",
        "_A title that starts with `help`, `list`, `objectives` or `objective` is read as "
        "that command. After another command word (`merge`, `status`, `top`, …) a number "
        "means the command and an ordinary word means a title: `/improve Status page shows "
        "stale incidents` is a proposal. The form (`/improve`) takes any title._",
        "_Not available yet: `objective <id>`._",
    ]
    # Our own text, but `<title>` must still reach Slack as &lt;title&gt; to show as typed.
    return escape_once("\n".join(lines))


def proposal_line(summary: ProposalSummary, *, vote_emoji: str) -> str:
    """One proposal as a list line: its title (linked to its card when it has one), status,
    votes."""
    p = summary.proposal
    title = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
    return f"{title} · {label(p.status)} · :{vote_emoji}: {count(summary.votes, 'vote')}"


def vote_recorded(summary: ProposalSummary) -> str:
    """Told to someone who voted for an existing proposal instead of submitting their own."""
    p = summary.proposal
    title = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
    text = (
        f":+1: Your vote went to {title} instead of a new proposal; "
        f"it now has {count(summary.votes, 'vote')}."
    )
    if p.message_ts:
        text += " Add what yours would have said in its thread."
    return text


def reaction_not_counted(proposal: Proposal, *, vote_emoji: str) -> str:
    """Told once to a person whose vote emoji landed on a card that takes no votes."""
    reason = votes_reason(proposal)
    text = f"Your :{vote_emoji}: on {ref(proposal)} {escape(proposal.title)} was not counted: "
    text += f"{reason}."
    if proposal.status == Status.MERGED and proposal.merged_into_id:
        text += f" To support it, vote on the card of #{proposal.merged_into_id}."
    return text


def register_list(
    ranked: Sequence[ProposalSummary],
    *,
    vote_emoji: str,
    limit: int = 15,
    total: int | None = None,
) -> str:
    """The open and approved proposals by priority, as a message; `total` is how many there are
    when `ranked` holds only the first ones."""
    if not ranked:
        return "The register has no open or approved proposals yet. Propose one with `/improve`."
    lines = [
        f"{place}. {proposal_line(s, vote_emoji=vote_emoji)} · priority {s.priority:g}"
        for place, s in enumerate(ranked[:limit], start=1)
    ]
    more = (len(ranked) if total is None else total) - min(limit, len(ranked))
    tail = (
        [f"…and {count(more, 'more proposal')}: `csi-bot export` has the whole register."]
        if more > 0
        else []
    )
    return "\n".join(["*Open and approved proposals, highest priority first*", *lines, *tail])


def merged_text(duplicate: Proposal, target: ProposalSummary, *, to_submitter: bool = False) -> str:
    """Announces a merge: to the steering member who did it, or to the duplicate's submitter."""
    t = target.proposal
    into = mrkdwn.link(t.permalink, f"{ref(t)} {t.title}")
    votes = count(target.votes, "vote")
    if to_submitter:
        if duplicate.submitter == t.submitter:
            counted = f"Both are yours; {into} now has {votes}."
        else:
            counted = f"Your vote counts for {into}, which now has {votes}."
        follow = " Follow and discuss it in its thread." if t.message_ts else ""
        return (
            f"Your proposal *{ref(duplicate)} {escape(duplicate.title)}* was merged into {into} "
            f"by the steering group: it says the same, so the work happens there. "
            f"{counted}{follow}"
        )
    return (
        f":twisted_rightwards_arrows: Merged *{ref(duplicate)} {escape(duplicate.title)}* into "
        f"{into}, which now has {votes}."
    )
