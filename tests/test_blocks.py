"""Block Kit builders: what people see, and that user text can never ping or inject markup."""

from __future__ import annotations

import json
from typing import Any

from bot import blocks
from bot.ids import ActionId, BlockId, CallbackId
from bot.modal_state import draft_from_state, initial_from_proposal
from bot.mrkdwn import escape, link, user
from bot.payloads import parse_state
from bot.proposals import ProposalSummary
from storage.models import Objective, Proposal

OBJECTIVES = [
    Objective(id=1, title="Reduce downtime", weight=2.0),
    Objective(id=2, title="Cut cost <b>", weight=1.0),
]


def _summary(**fields: Any) -> ProposalSummary:
    values: dict[str, Any] = {
        "id": 7,
        "title": "<!channel> hi & bye",
        "submitter": "U1",
        "status": "open",
        "objective_id": 1,
    }
    values.update(fields)
    return ProposalSummary(proposal=Proposal(**values), objective=OBJECTIVES[0], votes=3)


def _all_text(payload: object) -> str:
    return json.dumps(payload)


def test_escape_neutralises_mentions_and_links() -> None:
    assert escape("<!channel> & <@U1> <http://x|y>") == (
        "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;http://x|y&gt;"
    )


def _mrkdwn_texts(payload: object) -> list[str]:
    """Every string Slack parses as mrkdwn: mrkdwn text objects."""
    found: list[str] = []
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn":
            found.append(str(payload.get("text")))
        for value in payload.values():
            found += _mrkdwn_texts(value)
    elif isinstance(payload, list):
        for item in payload:
            found += _mrkdwn_texts(item)
    return found


def test_card_never_carries_a_raw_broadcast() -> None:
    text, card = blocks.proposal_card(
        _summary(description="<!here> now", service="<@U9>"), vote_emoji="+1"
    )
    parsed = " ".join([text, *_mrkdwn_texts(card)])  # what Slack reads as markup
    assert "<!channel>" not in parsed and "<!here>" not in parsed and "<@U9>" not in parsed
    assert text == "Improvement proposal #7: &lt;!channel&gt; hi &amp; bye"
    # Plain and rich text are never parsed: the title shows as typed and pings nobody.
    assert card[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "#7 <!channel> hi & bye", "emoji": True},
    }
    assert "3 votes" in _all_text(card)


def test_card_shows_the_register_fields() -> None:
    _, card = blocks.proposal_card(_summary(service="VPN", value=4, effort="M"), vote_emoji="+1")
    payload = _all_text(card)
    for expected in ("Reduce downtime", "VPN", "4 / M", "Open", "<@U1>"):
        assert expected in payload


def test_modal_has_every_register_field_and_requires_objective() -> None:
    view = blocks.proposal_modal(objectives=OBJECTIVES)
    assert view["callback_id"] == CallbackId.PROPOSAL
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    for block_id in BlockId:
        if block_id not in (BlockId.SIMILAR, BlockId.CHOICE):
            assert block_id in by_id, block_id
    assert by_id[BlockId.OBJECTIVE]["optional"] is False
    assert by_id[BlockId.TITLE]["optional"] is False
    assert by_id[BlockId.TITLE]["element"]["max_length"] == 150
    options = by_id[BlockId.OBJECTIVE]["element"]["options"]
    assert [o["value"] for o in options] == ["1", "2"]


def test_modal_state_reads_back_into_a_draft() -> None:
    proposal = Proposal(
        id=3,
        title="T",
        description="D",
        outcome="O",
        objective_id=2,
        service="S",
        benefit="cost",
        value=5,
        effort="3d",
        kpi="K",
        kpi_baseline=1.5,
        kpi_target=0.0,
        submitter="U1",
        status="open",
    )
    view = blocks.proposal_modal(
        objectives=OBJECTIVES, initial=initial_from_proposal(proposal), proposal_id=3
    )
    assert json.loads(view["private_metadata"]) == {"proposal_id": 3}
    state = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        if element["type"] == "static_select":
            chosen = element.get("initial_option")
            state[block["block_id"]] = {
                element["action_id"]: {"type": "static_select", "selected_option": chosen}
            }
        else:
            state[block["block_id"]] = {
                element["action_id"]: {
                    "type": "plain_text_input",
                    "value": element.get("initial_value"),
                }
            }
    draft = draft_from_state(parse_state({"values": state}))
    assert (draft.title, draft.objective_id, draft.value, draft.benefit) == ("T", 2, 5, "cost")
    assert (draft.kpi_baseline, draft.kpi_target, draft.effort) == ("1.5", "0", "3d")


def test_forged_objective_value_becomes_a_validation_error_not_a_crash() -> None:
    state = {
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {"type": "static_select", "selected_option": {"value": "drop table"}}
        }
    }
    assert draft_from_state(parse_state({"values": state})).objective_id == -1


def test_objective_question_offers_the_active_objectives() -> None:
    proposal = Proposal(id=4, title="<!here>", submitter="U1", status="needs_objective")
    text, question = blocks.objective_question(proposal, OBJECTIVES)
    payload = _all_text([text, question])
    assert "<!here>" not in payload
    select = question[-2]["elements"][0]
    assert select["action_id"] == ActionId.CHOOSE_OBJECTIVE
    assert question[-2]["block_id"] == "objective:4"
    assert [o["text"]["text"] for o in select["options"]] == ["Reduce downtime", "Cut cost <b>"]


def test_objective_question_without_objectives_says_what_to_do() -> None:
    proposal = Proposal(id=4, title="x", submitter="U1", status="needs_objective")
    _, question = blocks.objective_question(proposal, [])
    assert "objective add" in _all_text(question)


def test_user_and_link_helpers_refuse_injection() -> None:
    assert user("U123") == "<@U123>"
    assert user("<!channel>") == "&lt;!channel&gt;"
    assert link("https://x.slack.com/p1", "a|<b>") == "<https://x.slack.com/p1|a¦&lt;b&gt;>"
    assert link("javascript:alert(1)", "x") == "x"


def test_help_lists_every_form() -> None:
    text = blocks.help_message(vote_emoji="+1")
    for form in (
        "`/improve`",
        "`/improve &lt;title&gt;`",
        "`/improve objectives`",
        "`/improve help`",
    ):
        assert form in text


def test_only_proposals_that_take_votes_are_offered_for_a_vote() -> None:
    from bot.blocks import similar_choice_view, vote_instead_buttons
    from bot.similar_proposals import SimilarMatch

    open_one = SimilarMatch(summary=_summary(id=1, status="open"), score=0.8)
    rejected = SimilarMatch(summary=_summary(id=2, status="rejected"), score=0.7)
    view = similar_choice_view(
        matches=[open_one, rejected], related=[], pending_key="k", title="t", vote_emoji="+1"
    )
    values = [o["value"] for o in view["blocks"][-1]["element"]["options"]]
    assert values == ["vote:1", "new"]
    assert "#2" in json.dumps(view["blocks"])  # still shown, as history
    assert vote_instead_buttons([rejected], new_proposal_id=9) == []
    assert len(vote_instead_buttons([open_one, rejected], new_proposal_id=9)[0]["elements"]) == 1


# ---- what Slack accepts, what people read ---------------------------------------------------

LONG = "L" * 150  # the longest title the register stores


def _proposal(**fields: Any) -> Proposal:
    values: dict[str, Any] = {"id": 12345, "title": LONG, "submitter": "U1", "status": "open"}
    values.update(fields)
    return Proposal(**values)


def _with(votes: int, **fields: Any) -> ProposalSummary:
    return ProposalSummary(proposal=_proposal(**fields), objective=OBJECTIVES[0], votes=votes)


CARDED = {
    "channel_id": "C1",
    "message_ts": "1700000000.000100",
    "permalink": "https://example.slack.com/archives/C1/p1700000000000100",
}


def test_every_builder_is_accepted_by_slack_at_the_longest_inputs() -> None:
    from bot.similar_proposals import SimilarMatch
    from tests.fakeslack.validation import check_message, check_view

    many = [Objective(id=i, title=f"{i} " + "O" * 148, weight=1.0) for i in range(1, 131)]
    full = _with(
        12,
        description="D" * 3000,
        outcome="O" * 3000,
        service="S" * 80,
        effort="E" * 20,
        kpi="K" * 150,
        kpi_baseline=1e15,
        kpi_target=-1e-15,
        value=5,
        **CARDED,
    )
    matches = [SimilarMatch(summary=_with(i, id=i, **CARDED), score=0.5) for i in range(1, 6)]
    messages = [
        blocks.proposal_card(full, vote_emoji="thumbsup_all"),
        blocks.objective_question(_proposal(status="needs_objective"), many, matches=matches),
        blocks.objective_question(_proposal(), many, reminder=True),
        blocks.objective_chosen(full, channel_id="C1"),
    ]
    for text, built in messages:
        assert check_message({"text": text, "blocks": built}) is None, text
    for text in [
        blocks.proposal_stored(full, card_posted=True, channel_id="C1"),
        blocks.register_list([full] * 40, vote_emoji="+1"),
        blocks.objectives_list(many),
        blocks.vote_recorded(full),
        blocks.merged_text(_proposal(id=1), full, to_submitter=True),
    ]:
        assert check_message({"text": text}) is None, text
    views = [
        blocks.proposal_modal(
            objectives=many,
            initial={"title": LONG, "description": "D" * 3000, "objective": "1"},
            proposal_id=12345,
            notice_blocks=blocks.similar_notice(matches, [full] * 5, vote_emoji="+1"),
        ),
        blocks.similar_choice_view(
            matches=matches, related=[full] * 5, pending_key="k" * 40, title=LONG, vote_emoji="+1"
        ),
    ]
    for view in views:
        assert check_view(view) is None


def test_counts_agree_in_number() -> None:
    from bot.similar_proposals import SimilarMatch

    for votes, words in ((1, "1 vote"), (2, "2 votes"), (0, "0 votes")):
        summary = _with(votes, title="Faster builds", **CARDED)
        match = SimilarMatch(summary=summary, score=0.9)
        shown = [
            _all_text(blocks.proposal_card(summary, vote_emoji="+1")[1]),
            blocks.proposal_line(summary, vote_emoji="+1"),
            _all_text(blocks.similar_notice([match], [], vote_emoji="+1")),
            blocks.vote_recorded(summary),
            blocks.merged_text(_proposal(id=1), summary),
            blocks.merged_text(_proposal(id=1, submitter="U2"), summary, to_submitter=True),
        ]
        for text in shown:
            assert words in text, text
            assert f"{votes} votes" not in text or votes != 1
    listing = blocks.register_list([_with(1)] * 16, vote_emoji="+1")
    assert "…and 1 more proposal: " in listing
    assert "…and 2 more proposals: " in blocks.register_list([_with(1)] * 17, vote_emoji="+1")


def test_the_one_line_question_reads_as_sentences() -> None:
    proposal = _proposal(id=14, title="Faster builds", status="needs_objective")
    text, question = blocks.objective_question(proposal, OBJECTIVES)
    assert question[0]["text"]["text"] == (
        "I saved your proposal *#14 Faster builds*. It needs an objective. "
        "Which of the steering group's objectives does it serve?"
    )
    _, reminder = blocks.objective_question(proposal, OBJECTIVES, reminder=True)
    assert reminder[0]["text"]["text"] == (
        "Reminder: your proposal *#14 Faster builds* still needs an objective. "
        "Which of the steering group's objectives does it serve?"
    )
    assert text == "Which objective does #14 serve?"


def test_no_form_label_repeats_slacks_optional_marker() -> None:
    view = blocks.proposal_modal(objectives=OBJECTIVES)
    labels = {b["block_id"]: b["label"]["text"] for b in view["blocks"] if b["type"] == "input"}
    assert labels[BlockId.KPI] == "KPI"
    for block_id, label in labels.items():
        assert "optional" not in label.lower(), block_id
        assert "(" not in label, f"{block_id}: Slack appends “(optional)” to {label!r}"


def test_texts_speak_of_a_card_and_its_thread_only_when_it_exists() -> None:
    posted = _with(3, title="Faster builds", **CARDED)
    unposted = _with(3, title="Faster builds")  # an imported proposal, or a card not yet posted

    assert "its thread" in blocks.vote_recorded(posted)
    assert "thread" not in blocks.vote_recorded(unposted)
    to_submitter = blocks.merged_text(_proposal(id=1, submitter="U2"), posted, to_submitter=True)
    assert "in its thread" in to_submitter and CARDED["permalink"] in to_submitter
    unposted_merge = blocks.merged_text(
        _proposal(id=1, submitter="U2"), unposted, to_submitter=True
    )
    assert "thread" not in unposted_merge and "<http" not in unposted_merge

    chosen, _ = blocks.objective_chosen(posted, channel_id="C1")
    assert f"<{CARDED['permalink']}|its card> is in <#C1>" in chosen
    waiting, _ = blocks.objective_chosen(unposted, channel_id=None)
    assert waiting.endswith("It is open; its card will be posted to the proposals channel.")
    assert "<#" not in waiting

    stored = blocks.proposal_stored(posted, card_posted=True, channel_id="C1")
    assert stored == (
        f":white_check_mark: Your proposal <{CARDED['permalink']}|#12345 Faster builds> is in "
        "the register, and its card is posted in <#C1> for votes."
    )
    failed = blocks.proposal_stored(unposted, card_posted=False, channel_id="C1")
    assert failed.startswith(
        ":warning: Your proposal *#12345 Faster builds* is in the register, but its card could "
        "not be posted to <#C1> yet"
    )
    # Behind a storm of cards: no failure to report, and no false alarm.
    queued = blocks.proposal_stored(unposted, card_posted=False, channel_id="C1", card_queued=True)
    assert queued.startswith(":white_check_mark: Your proposal *#12345 Faster builds* is in the ")
    assert queued.endswith("will be posted in <#C1>.") and "could not" not in queued
    line = blocks.proposal_line(unposted, vote_emoji="+1")
    assert line.startswith("#12345 Faster builds · ") and "<" not in line


def test_a_card_that_takes_no_votes_does_not_ask_for_them() -> None:
    merged = _with(2, status="merged", merged_into_id=3)
    text = _all_text(blocks.proposal_card(merged, vote_emoji="+1")[1])
    assert "react with" not in text and "its votes count for #3" in text
    assert "Merged into #3" in text
    rejected = _all_text(blocks.proposal_card(_with(2, status="rejected"), vote_emoji="+1")[1])
    assert "react with" not in rejected and "no longer takes votes" in rejected


def test_similar_proposals_that_take_no_votes_are_not_offered_for_one() -> None:
    from bot.similar_proposals import SimilarMatch

    closed = [SimilarMatch(summary=_with(2, id=3, status="verified"), score=0.9)]
    notice = _all_text(blocks.similar_notice(closed, [], vote_emoji="+1"))
    assert "vote for one of them" not in notice and "None of them takes votes now" in notice
    view = blocks.similar_choice_view(
        matches=closed, related=[], pending_key="k", title="Faster builds", vote_emoji="+1"
    )
    assert "Voting for one of them" not in _all_text(view)
    choice = view["blocks"][-1]["element"]["options"]
    assert [o["text"]["text"] for o in choice] == ["Submit mine"]


def test_the_card_says_only_what_is_known_of_the_kpi() -> None:
    def kpi(**fields: Any) -> str:
        card = blocks.proposal_card(_with(1, kpi="MTTR (h)", **fields), vote_emoji="+1")[1]
        rows = next(b for b in card if b["type"] == "rich_text")["elements"]
        return next(r["elements"][1]["text"] for r in rows if r["elements"][0]["text"] == "KPI: ")

    assert kpi(kpi_baseline=6.5, kpi_target=2.0) == "MTTR (h), from 6.5 to 2"
    assert kpi(kpi_target=0.0) == "MTTR (h), target 0"
    assert kpi(kpi_baseline=6.5) == "MTTR (h), now 6.5"
    assert kpi() == "MTTR (h)"
