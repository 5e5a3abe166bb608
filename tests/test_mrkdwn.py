"""User text shows as typed: it never pings, links or formats, in any message the bot sends."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import blocks
from bot.ids import ActionId, BlockId, CallbackId
from bot.mrkdwn import LOOKALIKES, escape, escape_once, link, truncate_markup
from tests.botproc import PROPOSALS_CHANNEL
from tests.conftest import Stack
from tests.fakeslack.validation import check_ack

TYPED = "<!channel> *bold* _it_ ~s~ `code` & more"
MARKUP = ("<!channel>", "*bold*", "_it_", "~s~", "`code`")


# ---- the escaping itself ---------------------------------------------------------------------


def test_escape_makes_every_markup_character_inert() -> None:
    shown = escape(TYPED)
    assert shown == "&lt;!channel&gt; ∗bold∗ ˍitˍ ∼s∼ ˋcodeˋ &amp; more"  # noqa: RUF001
    assert not set("*_~`<>") & set(shown)
    assert escape(shown.translate(LOOKALIKES)) == escape(shown)  # look-alikes stay as they are
    assert escape(None) == "" and escape("") == ""


@given(st.text())
def test_no_typed_text_survives_escaping_as_markup(typed: str) -> None:
    shown = escape(typed)
    assert not set("*_~`<>") & set(shown)
    assert re.sub(r"&(amp|lt|gt);", "", shown).count("&") == 0
    # Reading it back (entities decoded, look-alikes undone) gives exactly what was typed.
    undo = str.maketrans({v: k for k, v in LOOKALIKES.items() if isinstance(v, str)})
    back = shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert back.translate(undo) == typed.translate(LOOKALIKES).translate(undo)
    assert escape_once(shown) == shown  # an error line never escapes it twice


@given(st.text(), st.integers(min_value=2, max_value=200))
def test_cut_markup_is_never_broken(typed: str, limit: int) -> None:
    text = link("https://example.slack.com/archives/C1/p1", typed) + " " + escape(typed)
    cut = truncate_markup(text, limit)
    assert len(cut) <= limit
    assert cut.count("<") == cut.count(">")
    assert re.sub(r"&(amp|lt|gt);", "", cut).count("&") == 0


def test_a_linked_title_cannot_break_out_of_its_link() -> None:
    url = "https://example.slack.com/archives/C1/p1"
    assert link(url, "a|b> *c*") == f"<{url}|a¦b&gt; ∗c∗>"  # noqa: RUF001


def test_error_text_escapes_what_was_not_escaped_and_never_twice() -> None:
    raw = "An objective called “<!channel> & co” already exists."
    assert blocks.error_text(raw) == (
        ":warning: An objective called “&lt;!channel&gt; &amp; co” already exists."
    )
    escaped = f"An objective called “{escape('<!channel> & co')}” already exists."
    assert blocks.error_text(escaped) == blocks.error_text(raw)
    assert escape_once("`/improve objective add <title>`") == (
        "`/improve objective add &lt;title&gt;`"
    )


def test_cutting_mrkdwn_never_leaves_half_a_link_or_entity() -> None:
    url = "https://example.slack.com/archives/C1/p1"
    text = "x" * 20 + f"<{url}|title> &amp; more"
    for limit in range(10, len(text)):
        cut = truncate_markup(text, limit)
        assert len(cut) <= limit
        assert cut.count("<") == cut.count(">")
        assert "&" not in cut or "&amp;" in cut


# ---- through the running bot ------------------------------------------------------------------


def _mrkdwn(payload: Any) -> list[str]:
    """Every string Slack reads as markup: mrkdwn objects and a message's `text`."""
    found: list[str] = []
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn" or (
            "text" in payload and isinstance(payload["text"], str) and "type" not in payload
        ):
            found.append(payload["text"])
        for value in payload.values():
            found += _mrkdwn(value)
    elif isinstance(payload, list):
        for item in payload:
            found += _mrkdwn(item)
    return found


def _literal(payload: Any) -> list[str]:
    """Every string Slack shows verbatim: plain_text objects and rich text's text elements."""
    found: list[str] = []
    if isinstance(payload, dict):
        if payload.get("type") in {"plain_text", "text"} and isinstance(payload.get("text"), str):
            found.append(payload["text"])
        for value in payload.values():
            found += _literal(value)
    elif isinstance(payload, list):
        for item in payload:
            found += _literal(item)
    return found


def assert_shown_as_typed(payload: Any, typed: str = TYPED) -> None:
    """The title appears, and wherever it appears it reads as typed: verbatim in plain or rich
    text, inert in mrkdwn; no markup of it reaches Slack's parser."""
    markup = _mrkdwn(payload)
    for text in markup:
        for raw in MARKUP:
            assert raw not in text, (raw, text)
    verbatim = any(typed in t for t in _literal(payload))
    inert = any(escape(typed) in t for t in markup)
    assert verbatim or inert, json.dumps(payload)[:2000]


@pytest.fixture(scope="module")
def objective(stack: Stack) -> str:
    result = stack.cli("objective", "add", "Reduce unplanned downtime")
    assert result.returncode == 0, result.stderr
    return "Reduce unplanned downtime"


def _answer(reply: Any) -> dict[str, Any]:
    """A command's answer as Slack reads it (the JSON body, or a plain-text body as its text),
    checked as Slack checks it."""
    try:
        answer = dict(reply.json())
    except ValueError:
        answer = {"text": reply.body}
    assert check_ack(answer) is None, answer
    return answer


def _objective_id(stack: Stack) -> str:
    opened = _open_modal(stack, "U0PEEK")
    by_id = {b.get("block_id"): b for b in opened["blocks"]}
    return str(by_id[BlockId.OBJECTIVE]["element"]["options"][0]["value"])


def _open_modal(stack: Stack, user: str) -> dict[str, Any]:
    trigger = stack.driver.trigger_id()
    assert stack.driver.slash_command("", user_id=user, trigger_id=trigger).status == 200
    call = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    view = call.response["view"]
    assert view["callback_id"] == CallbackId.PROPOSAL
    return dict(view)


def test_a_title_shows_as_typed_on_the_card_in_dms_lists_questions_and_home(
    stack: Stack, objective: str
) -> None:
    user = "U0TYPED"
    view = _open_modal(stack, user)
    form: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: TYPED},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {
                "type": "static_select",
                "selected_option": {"value": _objective_id(stack)},
            }
        },
        BlockId.SERVICE: {ActionId.INPUT: "*mail*_gw"},
    }
    assert stack.driver.view_submission(view, user_id=user, state_values=form).status == 200

    card = stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == PROPOSALS_CHANNEL and TYPED in json.dumps(c.params),
    )
    header = card.params["blocks"][0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert header["text"]["text"].endswith(f" {TYPED}")
    assert "*mail*_gw" in _literal(card.params["blocks"])  # the service, as typed
    assert_shown_as_typed(card.params)

    told = stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == user)
    assert_shown_as_typed(told.params)

    listing = stack.driver.slash_command("list", user_id=user)
    assert_shown_as_typed(_answer(listing))

    one_line = _answer(stack.driver.slash_command(f"{TYPED} again", user_id=user))
    assert_shown_as_typed(one_line, f"{TYPED} again")
    assert_shown_as_typed(one_line)  # the similar proposal above, in the question

    assert stack.driver.app_home_opened(user).status == 200
    home = stack.slack.wait_for("views.publish", lambda c: c.params.get("user_id") == user)
    assert_shown_as_typed(home.params["view"])
    assert stack.slack.refused() == []


def test_adding_a_duplicate_objective_echoes_its_title_inert(stack: Stack, objective: str) -> None:
    title = "<!channel> *Cut* _cost_"
    first = stack.driver.slash_command(f"objective add {title}", user_id="USTEER")
    assert first.status == 200
    again = stack.driver.slash_command(f"objective add {title}", user_id="USTEER")
    answer = _answer(again)["text"]
    assert "already exists" in answer
    assert_shown_as_typed({"text": answer}, title)
    assert "<!channel>" not in _answer(first)["text"]


# ---- no text points to a card that does not exist ---------------------------------------------


def _number(answer: dict[str, Any]) -> int:
    block = next(b for b in answer["blocks"] if str(b.get("block_id", "")).startswith("objective:"))
    return int(block["block_id"].split(":")[1])


def test_a_merge_into_a_proposal_without_a_card_points_to_no_thread(
    stack: Stack, objective: str, tmp_path: Any
) -> None:
    source = tmp_path / "register.json"
    source.write_text(
        json.dumps(
            [
                {
                    "ref": "NOCARD-1",
                    "title": "Replace the ageing core switches",
                    "objective": objective,
                    "value": "4",
                    "effort": "L",
                }
            ]
        )
    )
    assert stack.cli("import", str(source)).returncode == 0
    rows = json.loads(stack.cli("export", "--format", "json").stdout)
    imported = next(r["id"] for r in rows if r["ref"] == "NOCARD-1")

    def merge_and_tell(user: str) -> str:
        answer = _answer(stack.driver.slash_command("Replace the old core switches", user_id=user))
        duplicate = _number(answer)
        merged = stack.driver.slash_command(
            f"merge #{duplicate} into #{imported}", user_id="USTEER"
        )
        assert merged.status == 200
        told = stack.slack.wait_for(
            "chat.postMessage",
            lambda c: c.params.get("channel") == user and "was merged" in str(c.params["text"]),
        )
        return str(told.params["text"])

    without_card = merge_and_tell("U0NOCARD")
    assert f"was merged into #{imported} Replace the ageing core switches by" in without_card
    assert "thread" not in without_card and "<http" not in without_card
    listing = _answer(stack.driver.slash_command("list", user_id="U0NOCARD"))["text"]
    line = next(x for x in listing.splitlines() if f"#{imported} " in x)
    assert "<http" not in line  # nothing to link to

    assert stack.cli("cards", "post", "--pace", "0").returncode == 0
    with_card = merge_and_tell("U0WITHCARD")
    assert "Follow and discuss it in its thread." in with_card
    assert f"|#{imported} Replace the ageing core switches>" in with_card  # linked to the card
    assert stack.slack.refused() == []


def test_the_longest_proposal_is_shown_whole_and_slack_accepts_every_message(
    stack: Stack, objective: str
) -> None:
    user = "U0LONGEST"
    title = ("Longest title " + "x" * 150)[:150]
    view = _open_modal(stack, user)
    form: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: title},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {
                "type": "static_select",
                "selected_option": {"value": _objective_id(stack)},
            }
        },
        BlockId.DESCRIPTION: {ActionId.INPUT: "d" * 3000},
        BlockId.OUTCOME: {ActionId.INPUT: "o" * 3000},
        BlockId.SERVICE: {ActionId.INPUT: "s" * 80},
        BlockId.KPI: {ActionId.INPUT: "k" * 150},
        BlockId.KPI_BASELINE: {ActionId.INPUT: "123456789.5"},
        BlockId.KPI_TARGET: {ActionId.INPUT: "0.000001"},
    }
    assert stack.driver.view_submission(view, user_id=user, state_values=form).status == 200
    card = stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == PROPOSALS_CHANNEL and title in json.dumps(c.params),
    )
    assert card.response["ok"], card.response
    shown = card.params["blocks"]
    assert len(shown[0]["text"]["text"]) == 150 and shown[0]["text"]["text"].endswith("…")
    assert shown[1] == {
        "type": "section",
        "text": {"type": "plain_text", "text": title, "emoji": True},
    }
    told = stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == user)
    assert told.response["ok"] and title in str(told.params["text"])
    assert stack.driver.app_home_opened(user).status == 200
    home = stack.slack.wait_for("views.publish", lambda c: c.params.get("user_id") == user)
    assert home.response["ok"], home.response
    assert title in _answer(stack.driver.slash_command("list", user_id=user))["text"]
    assert stack.slack.refused() == []
