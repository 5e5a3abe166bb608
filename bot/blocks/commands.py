"""What `/improve` answers: usage help for text it cannot use, and its confirmations."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from bot import mrkdwn
from bot.blocks.kit import Block, ref, section
from bot.command_text import MIN_TITLE_LETTERS, MIN_TITLE_WORDS, NotYet, Reason, Refused, Word
from bot.mrkdwn import escape, truncate
from bot.proposals import AlreadyMerged, ProposalSummary
from storage.models import Objective, Proposal


def _inert(text: str) -> str:
    # Our usage texts show placeholders like `<title>`; in mrkdwn a bare `<…>` is a link or a
    # mention, so they go to Slack as entities and are shown as typed.
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _warning(text: str) -> str:
    # Like kit.error_text, for a message that carries our own mentions or dates (`<@U…>`,
    # `<!date…>`) and user text already escaped with `escape`.
    return f":warning: {text}"


NOTHING_SAVED = "Nothing was saved."
NOTHING_CHANGED = "Nothing was changed."
MORE_HELP = "`/improve help` lists everything that works."

_NUMBER_WORDS = {2: "two", 3: "three", 4: "four"}
TITLE_RULE = (
    f"a one-line title needs at least {_NUMBER_WORDS.get(MIN_TITLE_WORDS, MIN_TITLE_WORDS)} "
    f"words and {MIN_TITLE_LETTERS} letters"
)

TITLE_USAGE = _inert(
    "`/improve <title>` proposes an improvement in one line, e.g. "
    "`/improve Automate TLS certificate renewal`; `/improve` alone opens the full form."
)

USAGE: dict[Word, str] = {
    Word.HELP: "`/improve help` lists everything that works.",
    Word.LIST: "`/improve list` shows the open and approved proposals, highest priority first; "
    "`/improve list mine`, `list open`, `list approved` or `list <objective>` narrows it.",
    Word.OBJECTIVES: "`/improve objectives` lists the steering group's objectives, each with "
    "how far it got.",
    Word.OBJECTIVE: "`/improve objective <number>` shows how far an objective got; "
    "`/improve objective add <title>` adds an objective (steering group only).",
    Word.MERGE: "`/improve merge #<duplicate> into #<proposal>` merges a duplicate into another "
    "proposal; its votes move over (steering group only).",
    Word.WITHDRAW: "`/improve withdraw #<number>` withdraws a proposal of yours that is open or "
    "still needs an objective.",
    Word.TOP: "`/improve top [N]` shows the N open and approved proposals with the highest "
    "priority (10 unless given, at most 25).",
    Word.WHY: "`/improve why #<number>` explains a proposal's priority score term by term.",
    Word.SHOW: "`/improve show #<number>` shows a proposal with its owner and latest changes.",
    Word.HISTORY: "`/improve history #<number>` shows every change of a proposal, with who made "
    "it and when.",
    Word.STATUS: "`/improve status #<number> <status>` moves a proposal on: its owner marks it "
    "`in_progress` or `implemented`; the steering group reopens it (`open`); its submitter "
    "withdraws it (`withdrawn`).",
}

# The planned words: what each will do, and what to use meanwhile.
NOT_YET: dict[Word, str] = {
    Word.APPROVE: "`/improve approve` is not a command: the steering group decides on the "
    "proposal's card (Approve, Reject, Defer) or by replying `approve` in the card's thread.",
    Word.REJECT: "`/improve reject` is not a command: the steering group decides on the "
    "proposal's card or by replying `reject <reason>` in the card's thread.",
    Word.DEFER: "`/improve defer` is not a command: the steering group decides on the proposal's "
    "card or by replying `defer <reason>` in the card's thread.",
    Word.ASSIGN: "`/improve assign` is not a command: a steering member replies "
    "`assign @person` in the proposal card's thread.",
    Word.POLL: "Prioritisation polls are posted to the steering channel on their schedule, or "
    "by `csi-bot poll open` on the server; steering members vote with the numbered emoji. "
    "`/improve top` shows the ranking now.",
    Word.DIGEST: "The service-level digest is posted to the digest channel every week; "
    "`csi-bot digest` prints it on the server.",
    Word.SLA: "Service-level targets and measurements are kept on the server: "
    "`csi-bot sla target add`, `csi-bot sla import`, or the measurement endpoint.",
}

_MISSING: dict[Word, str] = {
    Word.OBJECTIVE: "`/improve objective add` needs the objective's title after it.",
    Word.MERGE: "`/improve merge` needs two proposal numbers: the duplicate, then the proposal "
    "it goes into.",
    Word.WITHDRAW: "`/improve withdraw` needs the number of your proposal.",
    Word.WHY: "`/improve why` needs a proposal number, like #12.",
    Word.STATUS: "`/improve status` needs a proposal number and the status to move it to, like "
    "`/improve status #12 in_progress`.",
}


_EXTRA: dict[Word, str] = {
    Word.OBJECTIVE: "`/improve objective` takes one objective number.",
    Word.MERGE: "`/improve merge` takes exactly two proposal numbers.",
    Word.WITHDRAW: "`/improve withdraw` takes one proposal number.",
    Word.TOP: "`/improve top` takes one number: how many proposals to show.",
    Word.WHY: "`/improve why` takes one proposal number.",
    Word.SHOW: "`/improve show` takes one proposal number.",
    Word.HISTORY: "`/improve history` takes one proposal number.",
}


USAGE = {word: _inert(text) for word, text in USAGE.items()}
NOT_YET = {word: _inert(text) for word, text in NOT_YET.items()}


def _usage(word: Word | None) -> str:
    if word is None:
        return TITLE_USAGE
    if word in USAGE:
        return USAGE[word]
    return NOT_YET[word]


def _shown(typed: str) -> str:
    """What the person typed, quoted safely (escaped, cut short, on one line)."""
    return "“" + escape(truncate(" ".join(typed.split()), 60)) + "”"


def command_refused(command: Refused, *, typed: str) -> str:
    """Why a text was neither a command nor a proposal, and how to write what it looks like."""
    word = command.word
    name = f"`/improve {word}`" if word else ""
    problem = {
        Reason.UNREADABLE: "That text contains control characters, so I cannot read it as a "
        "command or a proposal.",
        Reason.NUMBER_ONLY: f"{_shown(typed)} looks like a proposal number, not a proposal.",
        Reason.THIN: (
            f"{_shown(typed)} starts with the command word `{word}` and is not a proposal "
            f"title: {TITLE_RULE}."
            if word
            else f"{_shown(typed)} is not a proposal title: {TITLE_RULE}."
        ),
        Reason.MISSING: _MISSING.get(word, f"{name} needs a proposal number, like #12.")
        if word
        else "",
        Reason.BAD_NUMBER: "Proposal numbers are plain digits, like #12.",
        Reason.EXTRA: _EXTRA.get(word, f"{name} takes nothing after it.") if word else "",
    }[command.reason]
    outcome = NOTHING_CHANGED if word in {Word.MERGE, Word.WITHDRAW, Word.STATUS} else NOTHING_SAVED
    lines = [_warning(f"{problem} {outcome}")]
    if command.reason is Reason.NUMBER_ONLY:
        lines.append(USAGE[Word.LIST])
    lines.append(_usage(word))
    if word is not None and command.reason is Reason.THIN:
        lines.append(TITLE_USAGE)
    lines.append(MORE_HELP)
    return "\n".join(lines)


def command_not_yet(command: NotYet, *, typed: str) -> str:
    """A planned command this version does not do: said plainly, with what to use meanwhile."""
    message = NOT_YET[command.word]
    return "\n".join([f"{message} {NOTHING_SAVED}", MORE_HELP])


def no_objectives_yet(
    *,
    title: str | None,
    asker_is_steering: bool,
    steering_members: Collection[str],
    steering_usergroup: str | None,
    proposing: bool = True,
) -> str:
    """Why nothing can be proposed before the steering group sets an objective, and who can
    add one; with `proposing=False`, the answer to `/improve objectives`."""
    if proposing:
        opening = _warning(
            "Every proposal must serve one of the steering group's objectives, and none exist "
            f"yet. {NOTHING_SAVED}"
        )
    else:
        opening = "The steering group has not set any objectives yet."
    lines = [opening]
    then = ", then propose again" if proposing else ""
    if asker_is_steering:
        lines.append(
            "You are on the steering group: add one with "
            f"`/improve objective add &lt;title&gt;`{then}."
        )
    else:
        who = [mrkdwn.user(m) for m in sorted(steering_members)[:5]]
        if steering_usergroup and steering_usergroup.isalnum():
            who.append(f"<!subteam^{steering_usergroup}>")
        ask = f"ask {' or '.join(who)} to add one" if who else "ask them to add one"
        lines.append(
            "Only the steering group can add objectives "
            "(`/improve objective add &lt;title&gt;`, or `csi-bot objective add` on the server): "
            f"{ask}{then}."
        )
    if title:
        lines.append(f"Your title, to propose again then: {_shown(title)}")
    return "\n".join(lines)


def objective_added(objective: Objective) -> str:
    """Told to the steering member who added an objective."""
    return f":dart: Added the objective *{escape(objective.title)}*; proposals can serve it now."


def _when(at: datetime) -> str:
    # Slack shows the date in the reader's own time zone; the fallback is UTC.
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}}|{at:%Y-%m-%d} UTC>"


def already_merged(error: AlreadyMerged) -> str:
    """Merging a proposal that was merged before: who did it and when."""
    into = f"#{error.into_id}" if error.into_id else "another proposal"
    by = f" by {mrkdwn.user(error.by)}" if error.by else ""
    when = f" on {_when(error.at)}" if error.at else ""
    return _warning(f"#{error.proposal_id} was already merged into {into}{by}{when}.")


def merge_done(
    duplicate: Proposal, target: ProposalSummary, *, actor: str, submitter_is_person: bool
) -> str:
    """Told to the steering member who merged; promises a message only to a Slack user."""
    p = target.proposal
    into = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
    votes = f"{target.votes} vote" + ("" if target.votes == 1 else "s")
    text = (
        f":twisted_rightwards_arrows: Merged *{ref(duplicate)} {escape(duplicate.title)}* into "
        f"{into}, which now has {votes}."
    )
    if duplicate.submitter == actor:
        return text
    if submitter_is_person:
        return text + f" I'll let its submitter, {mrkdwn.user(duplicate.submitter)}, know."
    return text + (
        f" Its submitter, “{escape(duplicate.submitter)}”, is not a Slack user, so there is "
        "nobody to tell."
    )


def proposal_withdrawn(proposal: Proposal, *, already: bool = False) -> tuple[str, list[Block]]:
    """Confirms that the submitter withdrew their proposal (Discard, `/improve withdraw`)."""
    name = f"*{ref(proposal)} {escape(proposal.title)}*"
    if already:
        text = f":wastebasket: Your proposal {name} is already withdrawn."
    else:
        text = (
            f":wastebasket: Withdrew your proposal {name}. It stays in the register's history "
            "as withdrawn."
        )
    return text, [section(text)]
