"""The App Home tab and the compact lists of `/improve list`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot import mrkdwn
from bot.blocks.kit import Block, context, count, header, plain, ref, section, sections
from bot.blocks.messages import proposal_line
from bot.blocks.objective_progress import progress_details, steps_words
from bot.blocks.objectives import objective_select
from bot.home import Cut, HomeContent, Listing, ObjectiveLoad
from bot.ids import ActionId
from bot.lifecycle import label
from bot.mrkdwn import escape
from bot.proposals import ProposalSummary
from storage.models import Objective

VIEW_BLOCKS_MAX = 100  # Slack's limit on a Home tab


def _when(at: datetime) -> str:
    # Slack shows the date in the reader's own time zone; the fallback is UTC.
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}}|{at:%Y-%m-%d} UTC>"


def _more(cut: Cut[Any], noun: str, where: str) -> list[str]:
    """The line that says what was left out, and where to see it."""
    if not cut.more:
        return []
    return [f"…and {count(cut.more, 'more ' + noun)}: {where}"]


def _proposal_lines(
    cut: Cut[ProposalSummary], *, vote_emoji: str, noun: str, where: str
) -> list[str]:
    lines = [f"• {proposal_line(s, vote_emoji=vote_emoji)}" for s in cut.items]
    return lines + _more(cut, noun, where)


def home_view(
    content: HomeContent, *, objectives: Sequence[Objective], vote_emoji: str
) -> dict[str, Any]:
    """The App Home tab: the viewer's proposals, those waiting for their objective, the top
    priorities, the objectives and what serves them, recent decisions and, for the steering
    group, what waits for a decision. `objectives` are the choices offered for a proposal that
    needs one (up to one more than a list holds). Every list is cut by whole items."""
    blocks: list[Block] = [
        header("Continual Service Improvement"),
        {"type": "actions", "block_id": "home_actions", "elements": _buttons(content)},
        context("`/improve help` lists everything else you can do."),
    ]
    if content.needs_objective.items:
        blocks += _needs_objective(content, objectives)
    blocks += _section(
        "*Your proposals*, newest first",
        _proposal_lines(
            content.mine,
            vote_emoji=vote_emoji,
            noun="proposal",
            where="`/improve list mine` lists them.",
        ),
        empty="You have not proposed anything yet.",
    )
    if content.waiting_for_decision is not None:
        waiting = content.waiting_for_decision
        lines = [
            f"• {proposal_line(s, vote_emoji=vote_emoji)} · since {_when(s.proposal.created_at)}"
            for s in waiting.items
        ] + _more(waiting, "proposal", "`/improve list open` lists them.")
        blocks += _section(
            "*Waiting for decision*, oldest first", lines, empty="Nothing waits for a decision."
        )
    top = [
        f"{place}. {proposal_line(s, vote_emoji=vote_emoji)} · priority {s.priority:g}"
        for place, s in enumerate(content.top, start=1)
    ]
    blocks += _section(
        "*Top priorities* (`/improve list` shows more)",
        top,
        empty="No proposal is open or approved yet.",
    )
    blocks += _objectives(content)
    blocks += _section("*Recent decisions*", _decisions(content), empty="No decisions yet.")
    return {"type": "home", "blocks": blocks[:VIEW_BLOCKS_MAX]}


def _buttons(content: HomeContent) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": ActionId.PROPOSE_FROM_HOME,
            "text": plain("Propose an improvement"),
            "style": "primary",
        }
    ]
    if content.steering:
        buttons.append(
            {"type": "button", "action_id": ActionId.ADD_OBJECTIVE, "text": plain("New objective")}
        )
        if content.objectives.total:
            buttons.append(
                {
                    "type": "external_select",
                    "action_id": ActionId.MANAGE_OBJECTIVE,
                    "placeholder": plain("Edit or retire an objective"),
                    "min_query_length": 0,
                }
            )
    return buttons


def _section(heading: str, lines: list[str], *, empty: str) -> list[Block]:
    return [{"type": "divider"}, *sections(heading, lines, empty=empty)]


def _needs_objective(content: HomeContent, objectives: Sequence[Objective]) -> list[Block]:
    cut = content.needs_objective
    blocks: list[Block] = [
        {"type": "divider"},
        *sections(
            "*Waiting for your answer*: which objective does each serve?",
            [],
            empty="Until it has one, a proposal is not posted to the proposals channel.",
        ),
    ]
    for summary in cut.items:
        p = summary.proposal
        blocks.append(section(f"*{ref(p)} {escape(p.title)}*"))
        if objectives:
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"objective:{p.id}",
                    "elements": [objective_select(objectives, action_id=ActionId.CHOOSE_OBJECTIVE)],
                }
            )
    if cut.more:
        blocks.append(
            context(f"…and {count(cut.more, 'more proposal')}: `/improve list mine` lists them.")
        )
    return blocks


def _objective_line(content: HomeContent, load: ObjectiveLoad) -> str:
    line = f"• *{escape(load.objective.title)}* (weight {load.objective.weight:g}) · " + (
        count(load.proposals, "proposal") if load.proposals else "no proposals yet"
    )
    found = content.progress.get(load.objective.id or 0)
    if found is None:
        return line
    if found.total:
        line += f": {steps_words(found)}"
    details = progress_details(found)
    return line + (f" · {details}" if details else "")


def _objectives(content: HomeContent) -> list[Block]:
    loads = content.objectives
    lines = [_objective_line(content, load) for load in loads.items] + _more(
        loads, "objective", "`/improve objectives` lists them all."
    )
    if content.neglected:
        lines.append(
            f":warning: {count(content.neglected, 'objective')} with no open or approved step "
            "(neglected): `/improve objective <number>` shows one whole."
        )
    blocks = _section(
        "*The steering group's objectives*, heaviest first, with the proposals serving each "
        "and how far they got",
        lines,
        empty="None yet: the steering group adds them here or with `/improve objective add`.",
    )
    unserved = content.unserved
    if unserved.items:
        gaps = [f"• *{escape(o.title)}*" for o in unserved.items] + _more(
            unserved, "objective", "`/improve objectives` lists them all."
        )
        blocks += sections(
            f"*Objectives no proposal serves yet* ({unserved.total})", gaps, empty=""
        )
    return blocks


def _decisions(content: HomeContent) -> list[str]:
    return [
        f"• {mrkdwn.link(d.proposal.permalink, f'{ref(d.proposal)} {d.proposal.title}')}: "
        f"{label(d.status)} by {mrkdwn.user(d.actor)} {_when(d.at)}"
        for d in content.decisions
    ]


def register_listing(listing: Listing, *, vote_emoji: str) -> str:
    """`/improve list …` as one ephemeral message: whole lines, then how many were left out."""
    cut = listing.proposals
    if not cut.items:
        return f"*{escape(listing.heading)}*\n{listing.empty}"
    lines = [f"• {proposal_line(s, vote_emoji=vote_emoji)}" for s in cut.items]
    if cut.more:
        lines.append(
            f"…and {count(cut.more, 'more proposal')}, not shown here: "
            "`csi-bot export` lists the whole register."
        )
    return "\n".join([f"*{escape(listing.heading)}*", *lines])


def unknown_objective(name: str, candidates: Sequence[Objective]) -> str:
    """`/improve list <objective>` when no single active objective answers to the name."""
    shown = "“" + escape(mrkdwn.truncate(name, 60)) + "”"
    if candidates:
        names = ", ".join(f"*{escape(o.title)}*" for o in candidates[:5])
        return (
            f":warning: More than one objective starts with {shown}: {names}. "
            "Type more of its title. Nothing was saved."
        )
    # Said like every other text that is not a command: it was not taken as a proposal either.
    return (
        f":warning: No active objective is called {shown}, and it is not a proposal either. "
        "Nothing was saved.\n`/improve list` takes `mine`, `open`, `approved` or an objective's "
        "title; `/improve objectives` lists the objectives.\n`/improve help` lists everything "
        "that works."
    )
