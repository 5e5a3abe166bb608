"""Block Kit builders: what people see, and that user text can never ping or inject markup."""

from __future__ import annotations

import json

from bot import blocks
from bot.ids import ActionId, BlockId, CallbackId
from bot.modal_state import draft_from_state, initial_from_proposal
from bot.payloads import parse_state
from bot.mrkdwn import escape, link, user
from bot.proposals import ProposalSummary
from storage.models import Objective, Proposal

OBJECTIVES = [
    Objective(id=1, title="Reduce downtime", weight=2.0),
    Objective(id=2, title="Cut cost <b>", weight=1.0),
]


def _summary(**fields: object) -> ProposalSummary:
    values: dict[str, object] = {
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


def test_card_never_carries_a_raw_broadcast() -> None:
    text, card = blocks.proposal_card(
        _summary(description="<!here> now", service="<@U9>"), vote_emoji="+1"
    )
    payload = _all_text([text, card])
    assert "<!channel>" not in payload and "<!here>" not in payload and "<@U9>" not in payload
    assert "&lt;!channel&gt; hi &amp; bye" in payload
    assert "3 votes" in payload and "#7" in payload


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
    for form in ("`/improve`", "`/improve <title>`", "`/improve objectives`", "`/improve help`"):
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
