"""Reading a reply in a card's thread: the steering words, and everything else as discussion."""

from __future__ import annotations

import pytest

from bot.lifecycle import Status
from bot.thread_replies import ThreadAssign, ThreadDecision, parse


@pytest.mark.parametrize("text", ["approve", "Approve", "APPROVE.", " approve! ", "approve…"])
def test_approve_ignores_case_and_trailing_punctuation(text: str) -> None:
    assert parse(text) == ThreadDecision(Status.APPROVED)


def test_reject_keeps_its_reason_as_typed() -> None:
    assert parse("Reject too costly for R&amp;D &lt;now&gt;.") == ThreadDecision(
        Status.REJECTED, "too costly for R&D <now>."
    )


def test_reject_with_a_colon_still_rejects() -> None:
    assert parse("reject: no budget") == ThreadDecision(Status.REJECTED, "no budget")


def test_defer_keeps_a_multiline_reason() -> None:
    assert parse("defer\nafter the migration\nin Q3") == ThreadDecision(
        Status.DEFERRED, "after the migration\nin Q3"
    )


def test_reject_without_reason_is_read_so_the_bot_can_ask_for_one() -> None:
    assert parse("reject") == ThreadDecision(Status.REJECTED, None)


@pytest.mark.parametrize("text", ["assign <@U123ABC>", "Assign <@U123ABC|ann>.", "assign  <@W9ZZ>"])
def test_assign_reads_the_mention(text: str) -> None:
    owner = "W9ZZ" if "W9ZZ" in text else "U123ABC"
    assert parse(text) == ThreadAssign(owner)


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "I approve of this idea",
        "approve this later?",
        "approved",
        "reject? I would rather wait",
        "assign",
        "assign bob",
        "assign <@U1> and <@U2>",
        "assign <!channel>",
        "what about deferring it",
        "<@U123> approve",
    ],
)
def test_anything_else_is_discussion(text: str | None) -> None:
    assert parse(text) is None
