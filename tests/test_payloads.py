"""Every Slack payload is read into typed values in one place; what cannot be read is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot import payloads
from bot.errors import BadPayload
from bot.settings import Settings


def _command(**fields: Any) -> dict[str, Any]:
    body = {
        "command": "/improve",
        "user_id": "U1",
        "text": "hello",
        "trigger_id": "1.2.abc",
        "channel_id": "C1",
        "response_url": "https://hooks.slack.com/commands/T1/1/x",
    }
    body.update(fields)
    return body


def _view(**fields: Any) -> dict[str, Any]:
    view = {"id": "V1", "hash": "1.a", "callback_id": "proposal_modal", "private_metadata": ""}
    view["state"] = {
        "values": {"title": {"title_input": {"type": "plain_text_input", "value": "T"}}}
    }
    view.update(fields)
    return view


def _refused(parse: Any, body: Any) -> str:
    with pytest.raises(BadPayload) as caught:
        parse(body)
    return str(caught.value)


def test_a_slash_command_is_read_into_its_fields() -> None:
    command = payloads.parse_slash_command(_command())
    assert (command.user_id, command.text, command.channel_id) == ("U1", "hello", "C1")
    assert command.trigger_id == "1.2.abc"
    assert payloads.parse_slash_command(_command(text=None)).text == ""


@pytest.mark.parametrize("user", [None, 5, ["U1"], "", "u1", "U1; DROP", "U²"])
def test_a_slash_command_without_a_readable_user_is_refused(user: Any) -> None:
    assert "could not be read" in _refused(payloads.parse_slash_command, _command(user_id=user))


@pytest.mark.parametrize("text", [5, {"a": 1}, ["x"]])
def test_slash_text_that_is_not_a_string_is_refused(text: Any) -> None:
    _refused(payloads.parse_slash_command, _command(text=text))


@pytest.mark.parametrize(
    ("raw", "number"), [("12", 12), ("#12", 12), (" #7 ", 7), (3, 3), ("2147483647", 2147483647)]
)
def test_proposal_numbers_are_plain_ascii_numbers(raw: Any, number: int) -> None:
    assert payloads.proposal_number(raw) == number


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("#²", "“#²” is not a proposal number"),
        ("٣", "is not a proposal number"),
        ("12345678901234567890", "is not a proposal number"),
        ("2147483648", "There is no proposal #2147483648"),
        ("0", "There is no proposal #0"),
        ("-3", "is not a proposal number"),
        ("1e3", "is not a proposal number"),
        (True, "That is not a proposal number"),
        ([1], "That is not a proposal number"),
        (None, "No proposal number was given"),
    ],
)
def test_anything_else_is_refused_in_words(raw: Any, words: str) -> None:
    assert words in _refused(payloads.proposal_number, raw)


def test_an_objective_number_reads_with_its_article() -> None:
    with pytest.raises(BadPayload, match="is not an objective number"):
        payloads.proposal_number("x", what="objective")


def test_a_modal_is_read_with_its_values_and_metadata() -> None:
    meta = json.dumps({"proposal_id": 4})
    submission = payloads.parse_view_submission(
        {"type": "view_submission", "user": {"id": "U1"}, "view": _view(private_metadata=meta)}
    )
    assert submission.view.meta.proposal_id == 4
    assert submission.view.value("title") == "T"
    assert submission.view.value("absent") is None


@pytest.mark.parametrize(
    "view",
    [
        _view(private_metadata="{not json"),
        _view(private_metadata="[1, 2]"),
        _view(private_metadata=json.dumps({"proposal_id": "12345678901234567890"})),
        _view(private_metadata=json.dumps({"proposal_id": "²"})),
        _view(private_metadata=5),
        _view(state=None),
        _view(state={"values": []}),
        _view(state={"values": {"title": {"a": {"type": "plain_text_input", "value": 5}}}}),
        _view(state={"values": {"x": {"a": {"selected_option": "v"}}}}),
        _view(id=None),
        "a view",
    ],
)
def test_a_crafted_modal_is_refused_with_the_forms_message(view: Any) -> None:
    body = {"type": "view_submission", "user": {"id": "U1"}, "view": view}
    assert _refused(payloads.parse_view_submission, body) == payloads.UNREADABLE_FORM


def test_a_block_action_reads_its_first_action() -> None:
    click = payloads.parse_block_action(
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "actions": [
                {
                    "action_id": "choose",
                    "block_id": "objective:4",
                    "selected_option": {"value": "2"},
                }
            ],
            "channel": {"id": "C1"},
            "response_url": "https://hooks.slack.com/actions/x",
        }
    )
    assert (click.action_id, click.block_id, click.selected) == ("choose", "objective:4", "2")
    assert click.view is None and click.channel_id == "C1"


@pytest.mark.parametrize(
    "actions",
    [{"action_id": "x"}, [], ["x"], [{"action_id": 5}], [{"action_id": "x", "value": [1]}]],
)
def test_crafted_actions_are_refused(actions: Any) -> None:
    body = {"type": "block_actions", "user": {"id": "U1"}, "actions": actions}
    _refused(payloads.parse_block_action, body)


def test_events_are_read_by_type() -> None:
    reaction = payloads.parse_event(
        {
            "type": "event_callback",
            "event_id": "Ev1",
            "event": {
                "type": "reaction_added",
                "user": "U1",
                "reaction": "+1::skin-tone-3",
                "item": {"type": "message", "channel": "C1", "ts": "1.000001"},
            },
        }
    )
    assert isinstance(reaction, payloads.ReactionEvent) and reaction.added
    assert (reaction.channel_id, reaction.message_ts) == ("C1", "1.000001")
    other = payloads.parse_event({"type": "event_callback", "event": {"type": "team_join"}})
    assert isinstance(other, payloads.OtherEvent)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "reaction_added", "user": "U1", "reaction": "+1", "item": "C1/1.0"},
        {"type": "reaction_added", "user": 7, "reaction": "+1", "item": {"type": "message"}},
        {"type": "app_home_opened", "tab": "home"},
        {"type": 5},
        "reaction_added",
    ],
)
def test_crafted_events_are_refused(event: Any) -> None:
    _refused(payloads.parse_event, {"type": "event_callback", "event_id": "Ev1", "event": event})


def test_any_body_is_parsed_by_the_surface_bolt_would_pick() -> None:
    assert isinstance(payloads.parse(_command()), payloads.SlashCommand)
    assert isinstance(payloads.parse({"type": "view_closed"}), payloads.OtherRequest)
    _refused(payloads.parse, ["a", "list"])


@pytest.mark.parametrize("reaction", ["+1", "+1::skin-tone-3", "thumbsup", "thumbsup::skin-tone-6"])
def test_every_name_and_skin_tone_of_the_vote_emoji_is_a_vote(reaction: str) -> None:
    for configured in ("+1", ":thumbsup:", "+1::skin-tone-2"):
        assert Settings.from_mapping({"CSI_VOTE_EMOJI": configured}).is_vote(reaction)


def test_other_emoji_are_not_votes() -> None:
    settings = Settings.from_mapping({})
    assert settings.vote_emoji == "+1"
    assert not any(settings.is_vote(r) for r in ("-1", "thumbsdown", "tada", "+1::extra"))
    plus = Settings.from_mapping({"CSI_VOTE_EMOJI": "heavy_plus_sign"})
    assert plus.is_vote("heavy_plus_sign") and not plus.is_vote("+1")
