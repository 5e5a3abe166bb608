"""Messages: the channel card, the objective question, confirmations, help, App Home."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import mrkdwn
from bot.blocks.commands import TITLE_RULE
from bot.blocks.kit import Block, context, md, objective_options, plain, ref, section
from bot.blocks.similar import similar_notice, vote_instead_buttons
from bot.ids import ActionId
from bot.lifecycle import label
from bot.mrkdwn import escape, truncate
from bot.proposals import ProposalSummary
from bot.similar_proposals import SimilarMatch
from storage.models import Objective, Proposal


def no_objectives_message() -> str:
    """Shown when a proposal cannot be given an objective because none exist yet."""
    return (
        "The steering group has not set any objectives yet, and every proposal must serve one. "
        "Ask them to add one (`/improve objective add <title>` or "
        '`csi-bot objective add "<title>"`), then try again.'
    )


def _fields(summary: ProposalSummary) -> list[dict[str, Any]]:
    p = summary.proposal
    effort = escape(p.effort) if p.effort else "—"
    return [
        md(f"*Objective*\n{escape(summary.objective.title) if summary.objective else '—'}"),
        md(f"*Service*\n{escape(p.service) if p.service else '—'}"),
        md(f"*Value / effort*\n{p.value if p.value is not None else '—'} / {effort}"),
        md(f"*Status*\n{label(p.status)}"),
    ]


def proposal_card(summary: ProposalSummary, *, vote_emoji: str) -> tuple[str, list[Block]]:
    """The channel card of a proposal: fallback text and blocks."""
    p = summary.proposal
    title = escape(p.title)
    blocks: list[Block] = [
        section(f"*{ref(p)} {title}*"),
        {"type": "section", "fields": _fields(summary)},
    ]
    if p.description:
        blocks.append(section(f"*Where we are:* {escape(truncate(p.description, 600))}"))
    if p.outcome:
        blocks.append(section(f"*Where we want to be:* {escape(truncate(p.outcome, 600))}"))
    if p.kpi:
        baseline = "?" if p.kpi_baseline is None else f"{p.kpi_baseline:g}"
        target = "?" if p.kpi_target is None else f"{p.kpi_target:g}"
        blocks.append(context(f"KPI: {escape(p.kpi)}: {baseline} → {target}"))
    votes = f"{summary.votes} vote" + ("" if summary.votes == 1 else "s")
    blocks.append(
        context(
            f"Proposed by {mrkdwn.user(p.submitter)} · :{vote_emoji}: {votes} · "
            f"react with :{vote_emoji}: to vote · discuss in the thread"
        )
    )
    return f"Improvement proposal {ref(p)}: {title}", blocks


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
    opening = "Reminder: your proposal" if reminder else "Saved your proposal"
    intro = (
        f"{opening} *{ref(proposal)} {escape(proposal.title)}* "
        f"{'still needs an objective' if reminder else 'is in the register'}. "
        "Which of the steering group's objectives does it serve?"
    )
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
                    {
                        "type": "static_select",
                        "action_id": ActionId.CHOOSE_OBJECTIVE,
                        "placeholder": plain("Choose an objective"),
                        "options": objective_options(objectives),
                    },
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
                "Until it has an objective it stays in *needs objective* and is "
                "not posted to the register channel."
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
    """Replaces the question once answered."""
    p = summary.proposal
    objective = escape(summary.objective.title) if summary.objective else "—"
    where = f" and posted to <#{channel_id}>" if channel_id else ""
    text = (
        f":white_check_mark: *{ref(p)} {escape(p.title)}* serves *{objective}*; it is open{where}."
    )
    return text, [section(text)]


def proposal_stored(summary: ProposalSummary, *, card_posted: bool, channel_id: str) -> str:
    """Told to the submitter after the modal was submitted."""
    p = summary.proposal
    link = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
    if card_posted:
        return (
            f":white_check_mark: Your proposal {link} is in the register "
            f"and posted to <#{channel_id}>."
        )
    return (
        f":warning: Your proposal *{ref(p)} {escape(p.title)}* is saved, but I could not post "
        f"its card to <#{channel_id}>. Invite me there with `/invite @csi-bot`; "
        "the steering group can still see it in the register."
    )


def objectives_list(objectives: Sequence[Objective]) -> str:
    """The active objectives, as a message."""
    if not objectives:
        return no_objectives_message()
    lines = [f"• *{escape(o.title)}* (weight {o.weight:g})" for o in objectives]
    return "*The steering group's objectives*\n" + "\n".join(lines)


def help_message(*, vote_emoji: str) -> str:
    """What /improve can do."""
    return "\n".join(
        [
            "*csi-bot: Continual Service Improvement*",
            "`/improve`: open the proposal form (title, current state, desired outcome, objective, "
            "service, benefit, value, effort, KPI).",
            f"`/improve <title>`: propose in one line ({TITLE_RULE}); I ask you which "
            "objective it serves, and you can discard it there.",
            "`/improve list`: the open and approved proposals, highest priority first.",
            "`/improve objectives`: the steering group's objectives.",
            "`/improve objective add <title>`: add an objective (steering group only).",
            "`/improve merge #<duplicate> into #<proposal>`: merge a duplicate; its votes move "
            "over (steering group only).",
            "`/improve withdraw #<number>`: withdraw a proposal of yours that is open or still "
            "needs an objective.",
            "`/improve help`: this help.",
            f"Vote for a proposal by reacting with :{vote_emoji}: on its card.",
            "_A title that starts with `help`, `list`, `objectives` or `objective` is read as "
            "that command. After another command word (`merge`, `status`, `top`, …) a number "
            "means the command and an ordinary word means a title: `/improve Status page shows "
            "stale incidents` is a proposal. The form (`/improve`) takes any title._",
            "_Not available yet: `top`, `why`, `show`, `history`, `status`, "
            "`objective <id>`, filters of `list`, and steering decisions in Slack._",
        ]
    )


def proposal_line(summary: ProposalSummary, *, vote_emoji: str) -> str:
    """One proposal as a list line: linked title, status, votes."""
    p = summary.proposal
    title = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
    return f"{title} · {label(p.status)} · :{vote_emoji}: {summary.votes}"


def home_view(
    *, mine: Sequence[ProposalSummary], objectives: Sequence[Objective], vote_emoji: str
) -> dict[str, Any]:
    """The App Home tab: the viewer's proposals and the objectives."""
    own = [proposal_line(s, vote_emoji=vote_emoji) for s in list(mine)[-20:]]
    view_blocks: list[Block] = [
        {"type": "header", "text": plain("Continual Service Improvement")},
        section("Propose an improvement with `/improve`, or `/improve help` for everything else."),
        {"type": "divider"},
        section("*Your proposals*\n" + ("\n".join(own) if own else "_None yet._")),
        {"type": "divider"},
        section(objectives_list(objectives)),
    ]
    return {"type": "home", "blocks": view_blocks}


def vote_recorded(summary: ProposalSummary) -> str:
    """Told to someone who voted for an existing proposal instead of submitting their own."""
    p = summary.proposal
    title = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
    return (
        f":+1: Your vote went to {title} ({summary.votes} in all) instead of a new proposal. "
        "Add what yours would have said in its thread."
    )


def register_list(ranked: Sequence[ProposalSummary], *, vote_emoji: str, limit: int = 15) -> str:
    """The open and approved proposals by priority, as a message."""
    if not ranked:
        return "The register has no open proposals yet. Propose one with `/improve`."
    lines = [
        f"{place}. {proposal_line(s, vote_emoji=vote_emoji)} · priority {s.priority:g}"
        for place, s in enumerate(ranked[:limit], start=1)
    ]
    more = len(ranked) - limit
    tail = [f"…and {more} more: `csi-bot export` has the whole register."] if more > 0 else []
    return "\n".join(["*Open and approved proposals, highest priority first*", *lines, *tail])


def merged_text(duplicate: Proposal, target: ProposalSummary, *, to_submitter: bool = False) -> str:
    """Announces a merge: to the steering member who did it, or to the duplicate's submitter."""
    into = mrkdwn.link(target.proposal.permalink, f"{ref(target.proposal)} {target.proposal.title}")
    if to_submitter:
        return (
            f"Your proposal *{ref(duplicate)} {escape(duplicate.title)}* was merged into {into} "
            f"by the steering group: it says the same, so the work happens there. Your vote "
            f"counts for it ({target.votes} votes now); follow and discuss it in its thread."
        )
    return (
        f":twisted_rightwards_arrows: Merged *{ref(duplicate)} {escape(duplicate.title)}* into "
        f"{into}; its votes moved over ({target.votes} votes now) and its submitter was told."
    )
