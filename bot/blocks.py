"""Every Block Kit message and view the bot sends, built by pure functions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot import mrkdwn
from bot.drafts import BENEFIT_LABELS
from bot.ids import ActionId, BlockId, CallbackId
from bot.lifecycle import label
from bot.mrkdwn import escape, truncate
from bot.proposals import ProposalSummary
from storage.models import TEXT_MAX, TITLE_MAX, Objective, Proposal

Block = dict[str, Any]
VALUE_LABELS = {1: "1 · low", 2: "2", 3: "3 · medium", 4: "4", 5: "5 · high"}


def plain(text: str) -> dict[str, Any]:
    """A plain_text object (Slack shows it verbatim, never as markup)."""
    return {"type": "plain_text", "text": truncate(text, 3000) or " ", "emoji": True}


def md(text: str) -> dict[str, Any]:
    """A mrkdwn text object; callers escape user text first."""
    return {"type": "mrkdwn", "text": truncate(text, 3000) or " "}


def section(text: str, **extra: Any) -> Block:
    """A mrkdwn section."""
    return {"type": "section", "text": md(text), **extra}


def context(*texts: str) -> Block:
    """A context line of mrkdwn elements."""
    return {"type": "context", "elements": [md(t) for t in texts]}


def option(text: str, value: str) -> dict[str, Any]:
    """An option of a select."""
    return {"text": plain(truncate(text, 75)), "value": value}


def ref(proposal: Proposal) -> str:
    """How a proposal is named in messages: #12."""
    return f"#{proposal.id}"


def objective_options(objectives: Sequence[Objective]) -> list[dict[str, Any]]:
    """The active objectives as select options (value = objective ID)."""
    return [option(o.title, str(o.id)) for o in objectives[:100]]


def _input(
    block_id: BlockId,
    title: str,
    element: dict[str, Any],
    *,
    optional: bool = True,
    hint: str | None = None,
    dispatch: bool = False,
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(title),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    if dispatch:
        block["dispatch_action"] = True
    return block


def _text_input(
    initial: str | None,
    *,
    multiline: bool = False,
    max_length: int | None = None,
    placeholder: str | None = None,
    action_id: str = ActionId.INPUT,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": multiline,
    }
    if initial:
        element["initial_value"] = initial
    if max_length:
        element["max_length"] = max_length
    if placeholder:
        element["placeholder"] = plain(placeholder)
    return element


def _select(options: list[dict[str, Any]], initial: str | None, placeholder: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": ActionId.INPUT,
        "options": options,
        "placeholder": plain(placeholder),
    }
    chosen = [o for o in options if o["value"] == initial]
    if chosen:
        element["initial_option"] = chosen[0]
    return element


def proposal_modal(
    *,
    objectives: Sequence[Objective],
    initial: dict[str, Any] | None = None,
    proposal_id: int | None = None,
    notice_blocks: Sequence[Block] = (),
) -> dict[str, Any]:
    """The proposal form: every register field; objective required.

    `initial` pre-fills fields by block id; `proposal_id` means the form completes an existing
    proposal (added details) instead of capturing a new one.
    """
    initial = initial or {}

    def text(key: str) -> str | None:
        value = initial.get(key)
        return None if value is None else str(value)

    blocks: list[Block] = [
        _input(
            BlockId.TITLE,
            "Title",
            _text_input(
                text(BlockId.TITLE),
                max_length=TITLE_MAX,
                action_id=ActionId.TITLE,
                placeholder="Automate certificate renewal on the web tier",
            ),
            optional=False,
            dispatch=True,
            hint="Press Enter to see similar proposals before you go on.",
        ),
        *notice_blocks,
        _input(
            BlockId.DESCRIPTION,
            "Where are we now? (problem / current state)",
            _text_input(text(BlockId.DESCRIPTION), multiline=True, max_length=TEXT_MAX),
        ),
        _input(
            BlockId.OUTCOME,
            "Where do we want to be? (desired outcome)",
            _text_input(text(BlockId.OUTCOME), multiline=True, max_length=TEXT_MAX),
        ),
        _input(
            BlockId.OBJECTIVE,
            "Objective it serves",
            _select(objective_options(objectives), text(BlockId.OBJECTIVE), "Choose an objective"),
            optional=False,
            hint="Set by the steering group. Every improvement serves one.",
        ),
        _input(
            BlockId.SERVICE,
            "Affected service",
            _text_input(
                text(BlockId.SERVICE), max_length=80, placeholder="e.g. Email, VPN, Service desk"
            ),
        ),
        _input(
            BlockId.BENEFIT,
            "Expected benefit",
            _select(
                [option(lbl, b.value) for b, lbl in BENEFIT_LABELS.items()],
                text(BlockId.BENEFIT),
                "Choose a benefit",
            ),
        ),
        _input(
            BlockId.VALUE,
            "Value",
            _select(
                [option(lbl, str(v)) for v, lbl in VALUE_LABELS.items()],
                text(BlockId.VALUE),
                "1 (low) to 5 (high)",
            ),
        ),
        _input(
            BlockId.EFFORT,
            "Effort",
            _text_input(
                text(BlockId.EFFORT),
                max_length=20,
                placeholder="S, M, L, XL or person-days like 3d",
            ),
        ),
        _input(
            BlockId.KPI,
            "KPI (optional)",
            _text_input(
                text(BlockId.KPI), max_length=TITLE_MAX, placeholder="e.g. Mean time to restore (h)"
            ),
        ),
        _input(
            BlockId.KPI_BASELINE,
            "KPI baseline",
            _text_input(
                text(BlockId.KPI_BASELINE), max_length=30, placeholder="Today's value, e.g. 6.5"
            ),
        ),
        _input(
            BlockId.KPI_TARGET,
            "KPI target",
            _text_input(
                text(BlockId.KPI_TARGET), max_length=30, placeholder="The value to reach, e.g. 2"
            ),
        ),
    ]
    return {
        "type": "modal",
        "callback_id": CallbackId.PROPOSAL,
        "title": plain("Improvement proposal"),
        "submit": plain("Submit"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"proposal_id": proposal_id}),
        "blocks": blocks,
    }


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
    similar_blocks: Sequence[Block] = (),
    reminder: bool = False,
) -> tuple[str, list[Block]]:
    """Asks the submitter of a one-line proposal which objective it serves."""
    opening = "Reminder: your proposal" if reminder else "Saved your proposal"
    intro = (
        f"{opening} *{ref(proposal)} {escape(proposal.title)}* "
        f"{'still needs an objective' if reminder else 'is in the register'}. "
        "Which of the steering group's objectives does it serve?"
    )
    blocks: list[Block] = [section(intro), *similar_blocks]
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
    return f"Which objective does {ref(proposal)} serve?", blocks


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
            "`/improve <title>`: capture a proposal in one line; "
            "I ask you which objective it serves.",
            "`/improve objectives`: the steering group's objectives.",
            "`/improve objective add <title>`: add an objective (steering group only).",
            "`/improve help`: this help.",
            f"Vote for a proposal by reacting with :{vote_emoji}: on its card.",
        ]
    )


def error_text(message: str) -> str:
    """A user-facing error line."""
    return f":warning: {message}"


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
