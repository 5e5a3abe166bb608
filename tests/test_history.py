"""A proposal's history in words, and its display: who, when (in each reader's time zone), what
and why; user text escaped; a long history cut by whole entries within Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.blocks.lifecycle import history_line, history_message, possible_moves, when
from bot.history import HistoryEntry, describe
from bot.lifecycle import Status
from storage.models import AuditEntry, Proposal
from tests.fakeslack.validation import check_message

AT = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)


def _entry(action: str, **kw: object) -> AuditEntry:
    return AuditEntry(proposal_id=1, actor="U1ANA", action=action, at=AT, **kw)  # type: ignore[arg-type]


def test_each_kind_of_change_reads_as_a_sentence() -> None:
    cases = {
        "proposed it": _entry("created", to_status="open"),
        "moved it from Approved to In progress": _entry(
            "status", from_status="approved", to_status="in_progress"
        ),
        "rejected it": _entry("decision", from_status="open", to_status="rejected"),
        "made {person} the owner": _entry("assign", detail={"owner": "U2BEN"}),
        "merged #4 into it (2 votes moved over)": _entry(
            "merged_in", detail={"from": 4, "votes_moved": 2}
        ),
        "measured 72 against a target of 80: 8 short of the target, so it stays implemented": (
            _entry(
                "benefit",
                detail={"outcome": "missed", "value": 72.0, "target": 80.0, "shortfall": 8.0},
            )
        ),
    }
    for words, entry in cases.items():
        assert describe(entry).what == words


def test_a_line_has_the_time_in_the_readers_zone_the_person_and_the_escaped_reason() -> None:
    entry = describe(
        _entry(
            "decision",
            from_status="open",
            to_status="rejected",
            detail={"reason": "Too costly <!channel> & slow"},
        )
    )
    line = history_line(entry)
    stamp = int(AT.timestamp())
    assert line.startswith(f"• <!date^{stamp}^{{date_short_pretty}} {{time}}|2026-11-25 14:30 UTC>")
    assert "<@U1ANA> rejected it" in line
    assert "&lt;!channel&gt; &amp; slow" in line and "<!channel>" not in line
    assigned = history_line(describe(_entry("assign", detail={"owner": "U2BEN"})))
    assert "<@U1ANA> made <@U2BEN> the owner" in assigned
    assert when(AT).endswith("|2026-11-25 14:30 UTC>")


def test_a_long_history_keeps_the_latest_whole_entries_and_says_how_many_more() -> None:
    proposal = Proposal(id=9, title="Fix DNS", submitter="U1", status="open")
    reason = "because " * 60
    entries = [
        HistoryEntry(
            at=AT + timedelta(minutes=i), actor=f"U{i:06d}", what="voted for it", reason=reason
        )
        for i in range(500)
    ]
    text, blocks = history_message(proposal, entries)
    assert check_message({"text": text, "blocks": blocks}) is None
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    kept = shown.count("voted for it")
    assert 0 < kept < 500 and "<@U000499>" in shown  # the latest is there
    notes = " ".join(e["text"] for b in blocks if b["type"] == "context" for e in b["elements"])
    assert f"…and {500 - kept} more, earlier" in notes and "500 changes in all" in notes


def test_a_refused_move_knows_what_is_possible_from_each_status() -> None:
    assert possible_moves(Status.APPROVED) == [Status.IN_PROGRESS, Status.WITHDRAWN]
    assert possible_moves(Status.OPEN) == [
        Status.APPROVED,
        Status.REJECTED,
        Status.DEFERRED,
        Status.WITHDRAWN,
    ]
    assert possible_moves(Status.DEFERRED) == [Status.OPEN, Status.WITHDRAWN]
    # The benefit check, not a person, takes an implemented proposal on.
    assert possible_moves(Status.IMPLEMENTED) == []
    assert possible_moves(Status.VERIFIED) == []
