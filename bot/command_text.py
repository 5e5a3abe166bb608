"""What the text after `/improve` means: a typed command, or the reason it is not one.

Plain Python, no Slack. The rule that keeps real titles working while command words never
become proposals:

- Empty text opens the form.
- `help`, `list`, `objectives` and `objective` are always commands: whatever follows them is
  their argument (a list filter, an objective's title), never a proposal.
- The other command words (`top`, `why`, `show`, `history`, `status`, `withdraw`, `merge`,
  `approve`, `reject`, `defer`, `assign`, `poll`, `digest`, `sla`) take a proposal number, a
  count or a person. Followed by nothing, by something shaped like a number (`#3`, `3`, `²`), by
  a person (`@ana`) or with a `#N` anywhere after them, they are that command. Followed by an
  ordinary word ("Status page shows stale incidents") the text is read as a title.
- A title needs at least `MIN_TITLE_WORDS` words and `MIN_TITLE_LETTERS` letters; thinner text,
  a bare number or `#N`, and text with control characters get usage help instead.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from bot.lifecycle import Status
from storage.models import TITLE_MAX

MIN_TITLE_WORDS = 2
MIN_TITLE_LETTERS = 12
# Proposal numbers are ASCII digits; nine of them stay inside a 32-bit database integer.
MAX_ID_DIGITS = 9

_ID = re.compile(rf"#?([0-9]{{1,{MAX_ID_DIGITS}}})", re.ASCII)


class Word(StrEnum):
    """The words `/improve` knows, built or planned (SPEC section 4)."""

    HELP = "help"
    LIST = "list"
    OBJECTIVES = "objectives"
    OBJECTIVE = "objective"
    MERGE = "merge"
    WITHDRAW = "withdraw"
    TOP = "top"
    WHY = "why"
    SHOW = "show"
    HISTORY = "history"
    STATUS = "status"
    APPROVE = "approve"
    REJECT = "reject"
    DEFER = "defer"
    ASSIGN = "assign"
    POLL = "poll"
    DIGEST = "digest"
    SLA = "sla"


# Words whose argument is free text: whatever follows them belongs to the command.
ALWAYS_COMMAND = frozenset({Word.HELP, Word.LIST, Word.OBJECTIVES, Word.OBJECTIVE})

LIST_FILTERS = frozenset({"mine", "open", "approved"})


class Reason(StrEnum):
    """Why a text was not taken as a command or a proposal."""

    MISSING = "missing"  # the command needs something after it
    BAD_NUMBER = "bad_number"  # a proposal number that is not plain digits, or too long
    EXTRA = "extra"  # words after a command that takes none
    THIN = "thin"  # too short to be a proposal title
    NUMBER_ONLY = "number_only"  # just `#3` or `3`
    UNREADABLE = "unreadable"  # control characters


@dataclass(frozen=True)
class OpenForm:
    """`/improve`: the proposal form."""


@dataclass(frozen=True)
class ShowHelp:
    """`/improve help`."""


@dataclass(frozen=True)
class ListRegister:
    """`/improve list [mine|open|approved|<objective>]`: without a filter, the open and approved
    proposals by priority; `filter` is the typed word or objective title."""

    filter: str | None = None


@dataclass(frozen=True)
class ListObjectives:
    """`/improve objectives`."""


@dataclass(frozen=True)
class AddObjective:
    """`/improve objective add <title>`."""

    title: str


@dataclass(frozen=True)
class ShowObjective:
    """`/improve objective <id>`: how far the objective got."""

    objective_id: int


@dataclass(frozen=True)
class Merge:
    """`/improve merge #<duplicate> into #<target>`."""

    duplicate_id: int
    into_id: int


@dataclass(frozen=True)
class Withdraw:
    """`/improve withdraw #<id>`: the submitter takes back their own proposal."""

    proposal_id: int


@dataclass(frozen=True)
class Top:
    """`/improve top [N]`: the N highest-ranked open and approved proposals (None: default)."""

    count: int | None


@dataclass(frozen=True)
class Why:
    """`/improve why #<id>`: one proposal's priority, term by term."""

    proposal_id: int


@dataclass(frozen=True)
class Show:
    """`/improve show #<id>`: the proposal with its history."""

    proposal_id: int


@dataclass(frozen=True)
class History:
    """`/improve history #<id>`: every change of the proposal, with who and when."""

    proposal_id: int


@dataclass(frozen=True)
class SetStatus:
    """`/improve status #<id> <status>`; `status` is None when `typed` names no status."""

    proposal_id: int
    status: Status | None
    typed: str


@dataclass(frozen=True)
class Capture:
    """`/improve <title>`: a one-line proposal."""

    title: str


@dataclass(frozen=True)
class NotYet:
    """A planned command that this version does not do yet; `form` is its documented shape."""

    word: Word
    form: str


@dataclass(frozen=True)
class Refused:
    """Text that is neither a command nor a proposal; `word` picks the usage to show."""

    word: Word | None
    reason: Reason


Command = (
    OpenForm
    | ShowHelp
    | ListRegister
    | ListObjectives
    | AddObjective
    | ShowObjective
    | Merge
    | Withdraw
    | Top
    | Why
    | Show
    | History
    | SetStatus
    | Capture
    | NotYet
    | Refused
)


def as_typed(text: str) -> str:
    """The command's text as the person typed it: Slack sends `&`, `<` and `>` in it as
    `&amp;`, `&lt;` and `&gt;` (only those three; `&amp;` last so `&amp;lt;` stays `&lt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse(text: str | None) -> Command:
    """Read the text typed after `/improve` (decoded with `as_typed`)."""
    raw = text or ""
    if _has_control_characters(raw):
        return Refused(None, Reason.UNREADABLE)
    words = raw.split()
    if not words:
        return OpenForm()
    word, args = _WORDS.get(words[0].casefold()), words[1:]
    if word is not None and _is_command(word, args):
        return _command(word, args)
    if len(words) == 1 and _is_number(words[0]):
        return Refused(None, Reason.NUMBER_ONLY)
    title = " ".join(words)
    # Over-long text goes on to the draft's validation, which says how long a title may be.
    if not is_title(title) and len(title) <= TITLE_MAX:
        return Refused(word, Reason.THIN)
    return Capture(title)


def is_title(text: str) -> bool:
    """True when text is substantial enough to be stored as a proposal's title."""
    letters = sum(1 for c in text if c.isalpha())
    return len(text.split()) >= MIN_TITLE_WORDS and letters >= MIN_TITLE_LETTERS


def parse_id(token: str) -> int | None:
    """A proposal number written `12` or `#12` (ASCII digits only); None otherwise."""
    match = _ID.fullmatch(token)
    if not match:
        return None
    number = int(match.group(1))
    return number if number > 0 else None


def _number_like(token: str) -> bool:
    # What a person may have meant as a number: `#…` or a leading digit of any script, so that
    # `#²` or a full-width digit is refused as a bad number instead of being read as words.
    return token.startswith("#") or token[:1].isdigit()


def _is_number(token: str) -> bool:
    digits = token.lstrip("#").rstrip(".,;:!?")
    return bool(digits) and all(c.isdigit() for c in digits)


def _has_control_characters(text: str) -> bool:
    # Tabs and line breaks count as spaces; any other control character (NUL, escapes, bidi
    # overrides aside) is not something a person types into a title.
    return any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text)


def _is_command(word: Word, args: list[str]) -> bool:
    if word in ALWAYS_COMMAND or not args:
        return True
    if _number_like(args[0]) or args[0].startswith(("@", "<@")):
        return True
    return any(a.startswith("#") and _is_number(a) for a in args)


def _command(word: Word, args: list[str]) -> Command:
    handler = _COMMANDS.get(word)
    if handler is not None:
        return handler(args)
    return _planned(word, args)


def _help(args: list[str]) -> Command:
    return ShowHelp()


def _list(args: list[str]) -> Command:
    if not args:
        return ListRegister()
    choice = " ".join(args)
    return ListRegister(choice.casefold() if choice.casefold() in LIST_FILTERS else choice)


def _objectives(args: list[str]) -> Command:
    return Refused(Word.OBJECTIVES, Reason.EXTRA) if args else ListObjectives()


def _objective(args: list[str]) -> Command:
    if not args:
        return Refused(Word.OBJECTIVE, Reason.MISSING)
    if args[0].casefold() == "add":
        title = " ".join(args[1:])
        return AddObjective(title) if title else Refused(Word.OBJECTIVE, Reason.MISSING)
    objective_id = parse_id(args[0])
    if objective_id is not None:
        if len(args) > 1:
            return Refused(Word.OBJECTIVE, Reason.EXTRA)
        return ShowObjective(objective_id)
    if _number_like(args[0]):
        return Refused(Word.OBJECTIVE, Reason.BAD_NUMBER)
    return Refused(Word.OBJECTIVE, Reason.MISSING)


def _merge(args: list[str]) -> Command:
    # `merge #5 into #3`, or `merge #5 #3`.
    numbers = [a for i, a in enumerate(args) if not (i == 1 and a.casefold() == "into")]
    if len(numbers) < 2:
        return Refused(Word.MERGE, Reason.MISSING)
    if len(numbers) > 2:
        return Refused(Word.MERGE, Reason.EXTRA)
    duplicate, into = (parse_id(n) for n in numbers)
    if duplicate is None or into is None:
        return Refused(Word.MERGE, Reason.BAD_NUMBER)
    return Merge(duplicate, into)


def _withdraw(args: list[str]) -> Command:
    if not args:
        return Refused(Word.WITHDRAW, Reason.MISSING)
    proposal_id = parse_id(args[0])
    if proposal_id is None:
        return Refused(Word.WITHDRAW, Reason.BAD_NUMBER)
    if len(args) > 1:
        return Refused(Word.WITHDRAW, Reason.EXTRA)
    return Withdraw(proposal_id)


def _top(args: list[str]) -> Command:
    if not args:
        return Top(None)
    count = parse_id(args[0])
    if count is None:
        return Refused(Word.TOP, Reason.BAD_NUMBER)
    if len(args) > 1:
        return Refused(Word.TOP, Reason.EXTRA)
    return Top(count)


def _why(args: list[str]) -> Command:
    if not args:
        return Refused(Word.WHY, Reason.MISSING)
    proposal_id = parse_id(args[0])
    if proposal_id is None:
        return Refused(Word.WHY, Reason.BAD_NUMBER)
    if len(args) > 1:
        return Refused(Word.WHY, Reason.EXTRA)
    return Why(proposal_id)


def _one_id(word: Word, args: list[str]) -> int | Refused:
    if not args:
        return Refused(word, Reason.MISSING)
    proposal_id = parse_id(args[0])
    if proposal_id is None:
        return Refused(word, Reason.BAD_NUMBER)
    if len(args) > 1:
        return Refused(word, Reason.EXTRA)
    return proposal_id


def _show(args: list[str]) -> Command:
    found = _one_id(Word.SHOW, args)
    return found if isinstance(found, Refused) else Show(found)


def _history(args: list[str]) -> Command:
    found = _one_id(Word.HISTORY, args)
    return found if isinstance(found, Refused) else History(found)


def status_named(text: str) -> Status | None:
    """The status a person means by `in progress`, `in-progress`, `Implemented.`; None if none."""
    key = "_".join(text.casefold().rstrip(".!").replace("-", " ").split())
    try:
        return Status(key)
    except ValueError:
        return None


def _status(args: list[str]) -> Command:
    found = _one_id(Word.STATUS, args[:1])
    if isinstance(found, Refused):
        return found
    if len(args) < 2:
        return Refused(Word.STATUS, Reason.MISSING)
    typed = " ".join(args[1:])
    return SetStatus(found, status_named(typed), typed)


# The planned words, with the form each takes; a malformed number is refused before
# "not available yet", so that `why #²` is answered as the typing slip it is.
_PLANNED_FORMS: dict[Word, str] = {
    Word.APPROVE: "approve",
    Word.REJECT: "reject <reason>",
    Word.DEFER: "defer <reason>",
    Word.ASSIGN: "assign @person",
    Word.POLL: "poll",
    Word.DIGEST: "digest",
    Word.SLA: "sla",
}
_TAKES_ID: frozenset[Word] = frozenset()


def _planned(word: Word, args: list[str]) -> Command:
    if word in _TAKES_ID:
        if not args:
            return Refused(word, Reason.MISSING)
        if parse_id(args[0]) is None:
            return Refused(word, Reason.BAD_NUMBER)
    return NotYet(word, _PLANNED_FORMS[word])


_WORDS = {w.value: w for w in Word}
_COMMANDS = {
    Word.HELP: _help,
    Word.LIST: _list,
    Word.OBJECTIVES: _objectives,
    Word.OBJECTIVE: _objective,
    Word.MERGE: _merge,
    Word.WITHDRAW: _withdraw,
    Word.SHOW: _show,
    Word.HISTORY: _history,
    Word.STATUS: _status,
    Word.TOP: _top,
    Word.WHY: _why,
}
