"""The grammar of `/improve`: which texts are commands, which are titles, which are refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.command_text import (
    AddObjective,
    Capture,
    History,
    ListObjectives,
    ListRegister,
    Merge,
    NotYet,
    OpenForm,
    Reason,
    Refused,
    SetStatus,
    Show,
    ShowHelp,
    Top,
    Why,
    Withdraw,
    Word,
    as_typed,
    is_title,
    parse,
    parse_id,
)
from bot.ids import ActionId
from bot.lifecycle import Status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", OpenForm()),
        ("   ", OpenForm()),
        ("help", ShowHelp()),
        ("HELP", ShowHelp()),
        ("list", ListRegister()),
        ("list mine", ListRegister("mine")),
        ("list OPEN", ListRegister("open")),
        ("list  Approved ", ListRegister("approved")),
        ("list Fewer  outages", ListRegister("Fewer outages")),
        ("objectives", ListObjectives()),
        ("objective add Fewer outages", AddObjective("Fewer outages")),
        ("merge #5 into #3", Merge(5, 3)),
        ("merge 5 INTO 3", Merge(5, 3)),
        ("merge #5 #3", Merge(5, 3)),
        ("withdraw #4", Withdraw(4)),
        ("withdraw 4", Withdraw(4)),
    ],
)
def test_commands_that_work_are_read_as_such(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "word", "reason"),
    [
        ("?", None, Reason.THIN),
        ("#3", None, Reason.NUMBER_ONLY),
        ("3", None, Reason.NUMBER_ONLY),
        ("#²", None, Reason.NUMBER_ONLY),
        ("objective add", Word.OBJECTIVE, Reason.MISSING),
        ("objective", Word.OBJECTIVE, Reason.MISSING),
        ("objective ²", Word.OBJECTIVE, Reason.BAD_NUMBER),
        ("objectives please", Word.OBJECTIVES, Reason.EXTRA),
        ("status", Word.STATUS, Reason.MISSING),
        ("why", Word.WHY, Reason.MISSING),
        ("show #x1", Word.SHOW, Reason.BAD_NUMBER),
        ("merge", Word.MERGE, Reason.MISSING),
        ("merge #1", Word.MERGE, Reason.MISSING),
        ("merge #1 into #²", Word.MERGE, Reason.BAD_NUMBER),
        ("merge #1 into #３", Word.MERGE, Reason.BAD_NUMBER),  # noqa: RUF001 (full-width digit)
        ("merge #12345678901234567890 into #1", Word.MERGE, Reason.BAD_NUMBER),
        ("merge #0 into #1", Word.MERGE, Reason.BAD_NUMBER),
        ("merge #1 into #2 and #3", Word.MERGE, Reason.EXTRA),
        ("withdraw", Word.WITHDRAW, Reason.MISSING),
        ("withdraw #1 #2", Word.WITHDRAW, Reason.EXTRA),
        ("withdraw ¹", Word.WITHDRAW, Reason.BAD_NUMBER),
        ("top x1", Word.TOP, Reason.THIN),
        ("top #²", Word.TOP, Reason.BAD_NUMBER),
        ("top 5 6", Word.TOP, Reason.EXTRA),
        ("why #4 #5", Word.WHY, Reason.EXTRA),
        ("why #0", Word.WHY, Reason.BAD_NUMBER),
        ("top -1", Word.TOP, Reason.THIN),
        ("status page", Word.STATUS, Reason.THIN),
        ("fix wifi", None, Reason.THIN),
        ("Printer", None, Reason.THIN),
        ("Fix the VPN\x00 gateway now", None, Reason.UNREADABLE),
        ("Fix the VPN\x1b[31m gateway now", None, Reason.UNREADABLE),
    ],
)
def test_text_that_is_not_a_proposal_is_refused_with_the_usage_it_looks_like(
    text: str, word: Word | None, reason: Reason
) -> None:
    assert parse(text) == Refused(word, reason)


@pytest.mark.parametrize(
    ("text", "word", "form"),
    [
        ("approve #1", Word.APPROVE, "approve"),
        ("approve", Word.APPROVE, "approve"),
        ("reject #1 too costly", Word.REJECT, "reject <reason>"),
        ("assign @ana", Word.ASSIGN, "assign @person"),
        ("assign <@U123>", Word.ASSIGN, "assign @person"),
        ("poll", Word.POLL, "poll"),
        ("digest", Word.DIGEST, "digest"),
        ("sla", Word.SLA, "sla"),
        ("status of #4 please", Word.STATUS, None),  # a `#N` anywhere makes it the command
    ],
)
def test_planned_commands_are_not_stored_as_proposals(
    text: str, word: Word, form: str | None
) -> None:
    command = parse(text)
    assert not isinstance(command, Capture)
    if form is None:
        assert isinstance(command, Refused | NotYet) and command.word is word
    else:
        assert command == NotYet(word, form)


@pytest.mark.parametrize(
    "title",
    [
        "Status page shows stale incidents",
        "Merge the two VPN gateways into one",
        "Top up the spare laptop pool",
        "Approve standard changes automatically",
        "Assign tickets automatically by category",
        "Why do backups fail every Monday",
        "SLA reports for the service desk",
        "Self-service password reset",
        "Automate backups",
        "Upgrade Python 3.12 on the build agents",
    ],
)
def test_a_real_title_starting_with_a_command_word_is_a_proposal(title: str) -> None:
    assert parse(title) == Capture(title)


def test_words_that_always_take_their_argument_never_become_titles() -> None:
    # help, list, objectives and objective keep whatever follows as their argument.
    assert parse("Help desk opening hours on Saturdays") == ShowHelp()
    assert parse("List all servers in the CMDB") == ListRegister("all servers in the CMDB")


def test_a_title_is_stored_with_its_spacing_tidied() -> None:
    assert parse("  Automate\tTLS   renewal ") == Capture("Automate TLS renewal")


def test_the_title_minimum_is_two_words_and_twelve_letters() -> None:
    assert not is_title("Backups")
    assert not is_title("fix it now")  # 3 words, 8 letters
    assert is_title("Faster laptops")
    assert not is_title("Superlongsingleword")


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("12", 12),
        ("#12", 12),
        ("#999999999", 999_999_999),
        ("#1234567890", None),
        ("0", None),
        ("#", None),
        ("#²", None),
        ("١٢", None),  # Arabic-Indic digits
        ("12a", None),
        ("-1", None),
    ],
)
def test_proposal_numbers_are_ascii_digits_of_sane_length(token: str, expected: int | None) -> None:
    assert parse_id(token) == expected


def test_an_overlong_single_word_goes_on_to_the_length_check() -> None:
    assert parse("y" * 400) == Capture("y" * 400)
    assert parse("y" * 100) == Refused(None, Reason.THIN)


@pytest.mark.parametrize(
    "text",
    [
        "?",
        "#3",
        "<!here>",
        "<!here> now",
        "objective add",
        "objectives <!channel>",
        "status",
        "status <!here>",
        "merge #1 into #²",
        "merge #1 #2 #3",
        "withdraw",
        "why x1",
        "Fix the VPN\x00 now",
        "approve #1",
        "top #²",
        "objective 3 4",
        "sla",
    ],
)
def test_every_answer_says_nothing_was_stored_shows_usage_and_escapes_the_text(text: str) -> None:
    from bot import blocks

    command = parse(text)
    if isinstance(command, NotYet):
        answer = blocks.command_not_yet(command, typed=text)
    else:
        assert isinstance(command, Refused)
        answer = blocks.command_refused(command, typed=text)
    assert "Nothing was saved." in answer or "Nothing was changed." in answer
    assert "`/improve" in answer and "`/improve help`" in answer
    assert "<!" not in answer and "None" not in answer and "\x00" not in answer
    assert "  " not in answer and " ." not in answer


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_read_without_error_and_only_titles_are_captured(text: str) -> None:
    from bot import blocks

    command = parse(text)
    if isinstance(command, Capture):
        assert command.title == " ".join(text.split())
        assert is_title(command.title) or len(command.title) > 150
    elif isinstance(command, Refused):
        assert "Nothing was" in blocks.command_refused(command, typed=text)
    elif isinstance(command, NotYet):
        assert "Nothing was saved." in blocks.command_not_yet(command, typed=text)
    elif isinstance(command, Merge):
        assert 0 < command.duplicate_id < 10**9 and 0 < command.into_id < 10**9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("show 4", Show(4)),
        ("SHOW #4", Show(4)),
        ("history #4", History(4)),
        ("status #4 in_progress", SetStatus(4, Status.IN_PROGRESS, "in_progress")),
        ("status 4 In progress", SetStatus(4, Status.IN_PROGRESS, "In progress")),
        ("status #4 implemented.", SetStatus(4, Status.IMPLEMENTED, "implemented.")),
        ("status #4 finished", SetStatus(4, None, "finished")),
        ("status #4", Refused(Word.STATUS, Reason.MISSING)),
        ("show #4 #5", Refused(Word.SHOW, Reason.EXTRA)),
        ("history", Refused(Word.HISTORY, Reason.MISSING)),
    ],
)
def test_show_history_and_status_read_a_proposal_number(text: str, expected: object) -> None:
    assert parse(text) == expected


def test_the_objective_question_always_offers_discard() -> None:
    from bot import blocks
    from storage.models import Objective, Proposal

    proposal = Proposal(
        id=7, title="Retire the fax gateway", submitter="U1", status="needs_objective"
    )
    for objectives in ([], [Objective(id=1, title="Fewer outages")]):
        for reminder in (False, True):
            _, question = blocks.objective_question(proposal, objectives, reminder=reminder)
            buttons = [
                e
                for b in question
                if b["type"] == "actions"
                for e in b["elements"]
                if e.get("action_id") == ActionId.DISCARD
            ]
            assert [b["value"] for b in buttons] == ["7"]


def test_slack_entities_in_the_text_are_read_as_typed() -> None:
    assert as_typed("Printers for the R&amp;D lab &lt;3rd floor&gt;") == (
        "Printers for the R&D lab <3rd floor>"
    )
    assert as_typed("AT&amp;amp;T") == "AT&amp;T"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("top", Top(None)),
        ("top 5", Top(5)),
        ("top #30", Top(30)),
        ("why #4", Why(4)),
        ("why 12", Why(12)),
    ],
)
def test_top_and_why_are_commands(text: str, command: object) -> None:
    assert parse(text) == command
