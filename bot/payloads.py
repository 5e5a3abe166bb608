"""Every Slack payload, read into typed values in one place.

Slack's bodies are untrusted input even when signed (a replay of an old form, a hand-crafted
request from a workspace member's token, a shape Slack changes). Each surface has a frozen
dataclass and a `parse_*` function that returns it or raises `BadPayload` with words fit for the
person; handlers receive the typed value and never index the raw dict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.errors import BadPayload
from bot.mrkdwn import escape, truncate
from bot.people import USER_ID

# PostgreSQL's integer: a larger number cannot name a row, and must not reach the database.
ID_MAX = 2_147_483_647
# ASCII only: str.isdigit() accepts '²' and int() then fails; \d matches other scripts' digits.
_DIGITS = re.compile(r"[0-9]{1,10}")
_SLACK_ID = re.compile(r"[A-Z0-9]{1,40}")
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,120}")

TEXT_MAX = 10_000
SHORT_MAX = 255
URL_MAX = 2_000

UNREADABLE_FORM = "This form could not be read. Close it and start again with /improve."
UNREADABLE_REQUEST = "That request could not be read; nothing was changed. Please try again."

Json = Mapping[str, Any]


# ---- values ------------------------------------------------------------------------------------


def proposal_number(raw: object, *, what: str = "proposal") -> int:
    """A proposal (or objective) ID from `12`, `"12"` or `"#12"`; refused unless it is a plain
    ASCII number from 1 to 2,147,483,647."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, str) and _DIGITS.fullmatch(raw.strip().removeprefix("#")):
        number = int(raw.strip().removeprefix("#"))
    elif raw is None or raw == "":
        raise BadPayload(f"No {what} number was given.")
    else:
        shown = f"“{escape(truncate(str(raw), 20))}”" if isinstance(raw, str | float) else "That"
        article = "an" if what[:1] in "aeiou" else "a"
        raise BadPayload(f"{shown} is not {article} {what} number; use digits, like #12.")
    if not 1 <= number <= ID_MAX:
        raise BadPayload(f"There is no {what} #{number}.")
    return number


def _object(raw: object, what: str, message: str = UNREADABLE_REQUEST) -> Json:
    if not isinstance(raw, dict):
        raise BadPayload(message) from Why(f"{what} is {type(raw).__name__}, not an object")
    return raw


def _string(
    raw: object,
    what: str,
    *,
    optional: bool = False,
    limit: int = SHORT_MAX,
    pattern: re.Pattern[str] | None = None,
    message: str = UNREADABLE_REQUEST,
) -> str:
    """A string value; with `optional`, a missing (None) value reads as ''."""
    if raw is None and optional:
        return ""
    if not isinstance(raw, str):
        raise BadPayload(message) from Why(f"{what} is {type(raw).__name__}, not a string")
    if len(raw) > limit:
        raise BadPayload(message) from Why(f"{what} is longer than {limit} characters")
    if pattern is not None and not (raw == "" and optional) and not pattern.fullmatch(raw):
        raise BadPayload(message) from Why(f"{what} is not in the expected format")
    return raw


def _maybe_string(raw: object, what: str, *, limit: int = TEXT_MAX) -> str | None:
    """A string that may be absent (None)."""
    return None if raw is None else _string(raw, what, limit=limit)


class Why(Exception):
    """The technical reason a payload was refused: kept as the cause, for the log line."""


def reason(error: BadPayload) -> str:
    """The technical reason behind a refusal, for one log line."""
    cause = error.__cause__
    return str(cause) if isinstance(cause, Why) else str(error)


def _user_id(raw: object, what: str = "user") -> str:
    return _string(raw, what, pattern=USER_ID, limit=40)


def _user_of(body: Json) -> str:
    """The acting user of an interactivity payload (`user.id`)."""
    return _user_id(_object(body.get("user"), "user").get("id"), "user.id")


# ---- slash commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlashCommand:
    """`/improve …` as typed by `user_id` in `channel_id`."""

    command: str
    user_id: str
    text: str
    trigger_id: str
    channel_id: str
    response_url: str | None


def parse_slash_command(body: Json) -> SlashCommand:
    """A slash command's form fields; a missing or ill-typed user is refused."""
    return SlashCommand(
        command=_string(body.get("command"), "command", limit=100),
        user_id=_user_id(body.get("user_id"), "user_id"),
        text=_string(
            body.get("text"),
            "text",
            optional=True,
            limit=TEXT_MAX,
            message="That text is too long for `/improve`; keep a title short.",
        ),
        trigger_id=_string(body.get("trigger_id"), "trigger_id", optional=True),
        channel_id=_string(body.get("channel_id"), "channel_id", optional=True, pattern=_SLACK_ID),
        response_url=_web_url(body.get("response_url")),
    )


# ---- modals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormMeta:
    """What the bot put in a modal's private_metadata: the proposal it edits, or the key of a
    held form."""

    proposal_id: int | None = None
    pending: str | None = None
    objective_id: int | None = None  # the objective modal: the objective edited (None: a new one)


@dataclass(frozen=True)
class ModalView:
    """A modal as Slack sends it back: its identity, the bot's metadata and the entered values
    (block ID -> text or chosen option's value)."""

    id: str
    hash: str | None
    callback_id: str
    meta: FormMeta
    values: Mapping[str, str | None] = field(default_factory=dict)
    type: str = "modal"  # or "home": an action on the App Home tab

    def value(self, block_id: str) -> str | None:
        """The entered text or chosen option of an input block; None when empty or absent."""
        return self.values.get(block_id)


def parse_meta(raw: object) -> FormMeta:
    """private_metadata: empty, or a JSON object the bot wrote."""
    text = _string(raw, "private_metadata", optional=True, limit=3000, message=UNREADABLE_FORM)
    if not text:
        return FormMeta()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadPayload(UNREADABLE_FORM) from Why(f"private_metadata is not JSON ({exc})")
    meta = _object(data, "private_metadata", UNREADABLE_FORM)
    proposal_id = meta.get("proposal_id")
    pending = meta.get("pending")
    try:
        number = None if proposal_id in (None, "") else proposal_number(proposal_id)
    except BadPayload as exc:
        raise BadPayload(UNREADABLE_FORM) from Why(f"private_metadata.proposal_id: {exc}")
    objective = meta.get("objective_id")
    try:
        objective_id = (
            None if objective in (None, "") else proposal_number(objective, what="objective")
        )
    except BadPayload as exc:
        raise BadPayload(UNREADABLE_FORM) from Why(f"private_metadata.objective_id: {exc}")
    return FormMeta(
        proposal_id=number,
        pending=None if pending is None else _string(pending, "pending", limit=40),
        objective_id=objective_id,
    )


def _element_value(element: Json, where: str) -> str | None:
    """A text input's value or a select's / radio button's chosen value."""
    # A tuple, not a set: the type may be any JSON value, a dict included (unhashable).
    if "selected_option" in element or element.get("type") in (
        "static_select",
        "external_select",
        "radio_buttons",
    ):
        option = element.get("selected_option")
        if option is None:
            return None
        chosen = _object(option, f"{where}.selected_option", UNREADABLE_FORM).get("value")
        return _maybe_string(chosen, f"{where}.selected_option.value") or None
    value = element.get("value")
    if value is None:
        return None
    return _string(value, f"{where}.value", limit=TEXT_MAX, message=UNREADABLE_FORM) or None


def parse_state(raw: object) -> dict[str, str | None]:
    """`view.state`: {"values": {block_id: {action_id: element}}} -> {block_id: value}."""
    state = _object(raw, "view.state", UNREADABLE_FORM)
    blocks = _object(state.get("values", {}), "view.state.values", UNREADABLE_FORM)
    values: dict[str, str | None] = {}
    for block_id, elements in blocks.items():
        where = f"view.state.values.{truncate(str(block_id), 40)}"
        for element in _object(elements, where, UNREADABLE_FORM).values():
            # One element per input block; Slack sends nothing else.
            values[block_id] = _element_value(_object(element, where, UNREADABLE_FORM), where)
            break
    return values


def parse_view(raw: object) -> ModalView:
    """The `view` object of a view_submission or of an action inside a modal."""
    view = _object(raw, "view", UNREADABLE_FORM)
    return ModalView(
        id=_string(view.get("id"), "view.id", pattern=_SLACK_ID, message=UNREADABLE_FORM),
        hash=_maybe_string(view.get("hash"), "view.hash", limit=SHORT_MAX),
        callback_id=_string(
            view.get("callback_id"), "view.callback_id", optional=True, message=UNREADABLE_FORM
        ),
        meta=parse_meta(view.get("private_metadata")),
        # Absent (a Home tab without inputs) reads as empty; present, it must be an object.
        values=parse_state(view.get("state", {})),
        type="home" if view.get("type") == "home" else "modal",
    )


@dataclass(frozen=True)
class ViewSubmission:
    """A modal submitted by `user_id`."""

    user_id: str
    view: ModalView


def parse_view_submission(body: Json) -> ViewSubmission:
    """A view_submission payload."""
    return ViewSubmission(user_id=_user_of(body), view=parse_view(body.get("view")))


# ---- block actions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockAction:
    """A click or a choice in a message or a modal (the first action of the payload)."""

    user_id: str
    action_id: str
    block_id: str
    value: str | None
    selected: str | None
    trigger_id: str
    response_url: str | None
    channel_id: str | None
    view: ModalView | None


def parse_block_action(body: Json) -> BlockAction:
    """A block_actions payload; Slack sends one action per click."""
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        raise BadPayload(UNREADABLE_REQUEST) from Why("actions is not a non-empty list")
    action = _object(actions[0], "actions[0]")
    option = action.get("selected_option")
    selected = None
    if option is not None:
        selected = _maybe_string(_object(option, "selected_option").get("value"), "selected")
    channel = body.get("channel")
    channel_id = None
    if channel is not None:
        channel_id = _string(_object(channel, "channel").get("id"), "channel.id", pattern=_SLACK_ID)
    view = body.get("view")
    return BlockAction(
        user_id=_user_of(body),
        action_id=_string(action.get("action_id"), "action_id"),
        block_id=_string(action.get("block_id"), "block_id", optional=True),
        value=_maybe_string(action.get("value"), "value", limit=2000),
        selected=selected,
        trigger_id=_string(body.get("trigger_id"), "trigger_id", optional=True),
        response_url=_web_url(body.get("response_url")),
        channel_id=channel_id,
        view=None if view is None else parse_view(view),
    )


# ---- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReactionEvent:
    """An emoji added to (or removed from) a message."""

    event_id: str | None
    added: bool
    user_id: str
    reaction: str
    item_type: str
    channel_id: str
    message_ts: str


@dataclass(frozen=True)
class MessageEvent:
    """A message posted in a channel the bot is in (thread replies included)."""

    event_id: str | None
    user_id: str | None
    channel_id: str
    text: str
    ts: str
    thread_ts: str | None
    subtype: str | None
    bot_id: str | None = None  # set on messages posted by an app (our own replies included)


@dataclass(frozen=True)
class HomeOpened:
    """The user opened one of the app's tabs."""

    event_id: str | None
    user_id: str
    tab: str


@dataclass(frozen=True)
class OtherEvent:
    """An event type the bot does not read."""

    event_id: str | None
    type: str


Event = ReactionEvent | MessageEvent | HomeOpened | OtherEvent


def parse_event(body: Json) -> Event:
    """An Events API delivery (`event_callback`)."""
    event_id = body.get("event_id")
    event_id = None if event_id is None else _string(event_id, "event_id", pattern=_EVENT_ID)
    event = _object(body.get("event"), "event")
    kind = _string(event.get("type"), "event.type", limit=100)
    if kind in {"reaction_added", "reaction_removed"}:
        item = _object(event.get("item"), "event.item")
        item_type = _string(item.get("type"), "event.item.type", limit=100)
        return ReactionEvent(
            event_id=event_id,
            added=kind == "reaction_added",
            user_id=_user_id(event.get("user"), "event.user"),
            reaction=_string(event.get("reaction"), "event.reaction", limit=200),
            item_type=item_type,
            channel_id=_string(
                item.get("channel"), "event.item.channel", optional=True, pattern=_SLACK_ID
            ),
            message_ts=_string(item.get("ts"), "event.item.ts", optional=True, pattern=_TS),
        )
    if kind == "app_home_opened":
        return HomeOpened(
            event_id=event_id,
            user_id=_user_id(event.get("user"), "event.user"),
            tab=_string(event.get("tab"), "event.tab", optional=True, limit=40) or "home",
        )
    if kind == "message":
        user = event.get("user")
        thread_ts = event.get("thread_ts")
        return MessageEvent(
            event_id=event_id,
            user_id=None if user is None else _user_id(user, "event.user"),
            channel_id=_string(
                event.get("channel"), "event.channel", optional=True, pattern=_SLACK_ID
            ),
            text=_string(event.get("text"), "event.text", optional=True, limit=TEXT_MAX * 4),
            ts=_string(event.get("ts"), "event.ts", optional=True, pattern=_TS),
            thread_ts=None if thread_ts is None else _string(thread_ts, "thread_ts", pattern=_TS),
            subtype=_maybe_string(event.get("subtype"), "event.subtype", limit=100),
            bot_id=_maybe_string(event.get("bot_id"), "event.bot_id", limit=100),
        )
    return OtherEvent(event_id=event_id, type=kind)


# ---- options of a select that searches as you type -----------------------------------------


@dataclass(frozen=True)
class OptionsRequest:
    """Slack asks for the options of an external_select while `user_id` types `query`."""

    user_id: str
    action_id: str
    block_id: str
    query: str


def parse_block_suggestion(body: Json) -> OptionsRequest:
    """A block_suggestion payload."""
    return OptionsRequest(
        user_id=_user_of(body),
        action_id=_string(body.get("action_id"), "action_id"),
        block_id=_string(body.get("block_id"), "block_id", optional=True),
        query=_string(body.get("value"), "value", optional=True, limit=SHORT_MAX),
    )


# ---- any request -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OtherRequest:
    """A request of a kind the bot does not act on (e.g. a modal closed)."""

    type: str


Payload = SlashCommand | ViewSubmission | BlockAction | OptionsRequest | Event | OtherRequest


def kind_of(body: object) -> str:
    """Which surface a body is, decided as Bolt's listener matchers decide it."""
    if not isinstance(body, dict):
        return "unknown"
    if "command" in body:
        return "command"
    kind = body.get("type")
    return kind if isinstance(kind, str) else "unknown"


def parse(body: object) -> Payload:
    """The typed value of any Slack request body; BadPayload when it cannot be read."""
    if not isinstance(body, dict):
        raise BadPayload(UNREADABLE_REQUEST) from Why(f"body is {type(body).__name__}")
    kind = kind_of(body)
    if kind == "command":
        return parse_slash_command(body)
    if kind == "view_submission":
        return parse_view_submission(body)
    if kind == "block_actions":
        return parse_block_action(body)
    if kind == "event_callback":
        return parse_event(body)
    if kind == "block_suggestion":
        return parse_block_suggestion(body)
    return OtherRequest(type=kind)


def first_input_block(body: object) -> str | None:
    """The first input block of a submitted modal, where a refusal can be shown; None when the
    body has no readable one."""
    view = body.get("view") if isinstance(body, dict) else None
    blocks = view.get("blocks") if isinstance(view, dict) else None
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("type") == "input":
            block_id = block.get("block_id")
            if isinstance(block_id, str) and 0 < len(block_id) <= SHORT_MAX:
                return block_id
    return None


def response_url_of(body: object) -> str | None:
    """The response_url of a body that could not be read otherwise (to say so to its sender)."""
    return _web_url(body.get("response_url") if isinstance(body, dict) else None)


def _web_url(raw: object) -> str | None:
    """An http(s) URL with a host, or None: anything else cannot be answered on."""
    if not isinstance(raw, str) or len(raw) > URL_MAX or not raw.isascii():
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        return None
    if parts.scheme not in {"https", "http"} or not parts.hostname or any(c in raw for c in " <>"):
        return None
    return raw
