"""What Slack refuses: the checks FakeSlack applies to every message and view it receives.

Two layers, so a payload the real Slack would refuse is refused here too:
- slack_sdk's own models (`Block.parse`, `View`, `Option` and their `validate_json()`), walked
  recursively because `validate_json()` checks only the object it is called on;
- the limits Slack documents that those models do not check (blocks per surface, text objects
  that may not be empty or must be plain_text, lengths of fields, placeholders, values and IDs,
  block_id unique within a surface, action_id unique within a block).

Problems are worded like Slack's own: "<what is wrong> [json-pointer:/blocks/0/text/text]".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block, Option
from slack_sdk.models.views import View

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
MESSAGE_TEXT_MAX = 40_000
ID_MAX = 255

BLOCK_TYPES = frozenset(
    {"section", "divider", "image", "actions", "context", "input", "header", "rich_text"}
    | {"file", "video", "markdown"}
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
_PICKS = ("static", "external", "users", "conversations", "channels")
SELECTS = frozenset(f"{m}{p}_select" for p in _PICKS for m in ("", "multi_"))
OPTION_ELEMENTS = SELECTS | {"radio_buttons", "checkboxes", "overflow"}

# Methods whose payload FakeSlack checks: "message" methods answer invalid_blocks, views
# answer invalid_arguments, as the real Web API does.
MESSAGE_METHODS = frozenset(
    {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage"}
)
VIEW_METHODS = frozenset({"views.open", "views.update", "views.push", "views.publish"})


@dataclass(frozen=True)
class Refusal:
    """Why Slack would refuse a call: its error code and the problems it lists."""

    error: str
    problems: tuple[str, ...]

    def body(self) -> dict[str, Any]:
        """The Web API's answer: ok false, the error, and the problems where Slack lists them."""
        messages = [f"[ERROR] {p}" for p in self.problems]
        out: dict[str, Any] = {"ok": False, "error": self.error}
        if self.error == "invalid_blocks":
            out["errors"] = list(self.problems)
        if messages:
            out["response_metadata"] = {"messages": messages}
        return out


# ---- the documented limits, checked on the plain JSON ------------------------------------


class _Checker:
    """Walks one surface (a message's blocks or a view) and collects problems."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.block_ids: set[str] = set()

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{what} [json-pointer:{where}]")

    def length(self, where: str, value: Any, limit: int, *, least: int = 0) -> None:
        if not isinstance(value, str):
            self.add(where, "must be a string")
        elif len(value) > limit:
            self.add(where, f"must be less than {limit + 1} characters")
        elif len(value) < least:
            self.add(where, f"must be more than {least - 1} characters")

    def text(self, where: str, obj: Any, limit: int, *, plain_only: bool = False) -> None:
        """A text object: plain_text or mrkdwn, not empty, within `limit` characters."""
        if not isinstance(obj, dict):
            self.add(where, "must be a text object")
            return
        kind = obj.get("type")
        if kind not in (("plain_text",) if plain_only else TEXT_TYPES):
            wanted = "plain_text" if plain_only else "plain_text or mrkdwn"
            self.add(f"{where}/type", f"must be {wanted}")
        self.length(f"{where}/text", obj.get("text"), limit, least=1)

    def identifier(self, where: str, value: Any) -> None:
        self.length(where, value, ID_MAX, least=1)

    def blocks(self, where: str, blocks: Any, limit: int, *, modal: bool) -> None:
        if not isinstance(blocks, list):
            self.add(where, "must be an array")
            return
        if len(blocks) > limit:
            self.add(where, f"no more than {limit} items allowed")
        for i, block in enumerate(blocks):
            self.block(f"{where}/{i}", block, modal=modal)

    def block(self, where: str, block: Any, *, modal: bool) -> None:
        if not isinstance(block, dict):
            self.add(where, "must be an object")
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.add(f"{where}/type", f"unsupported block type {kind!r}")
            return
        if "block_id" in block:
            self.identifier(f"{where}/block_id", block["block_id"])
            if block["block_id"] in self.block_ids:
                self.add(f"{where}/block_id", "block_id must be unique")
            self.block_ids.add(str(block["block_id"]))
        if kind == "section":
            self.section(where, block)
        elif kind == "header":
            self.text(f"{where}/text", block.get("text"), 150, plain_only=True)
        elif kind == "context":
            self.context(where, block)
        elif kind == "actions":
            self.actions(where, block)
        elif kind == "input":
            self.input(where, block, modal=modal)

    def section(self, where: str, block: dict[str, Any]) -> None:
        if "text" not in block and "fields" not in block:
            self.add(where, "must provide either text or fields")
        if "text" in block:
            self.text(f"{where}/text", block["text"], 3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or not 0 < len(fields) <= 10:
                self.add(f"{where}/fields", "must hold between 1 and 10 text objects")
            else:
                for i, field in enumerate(fields):
                    self.text(f"{where}/fields/{i}", field, 2000)
        if "accessory" in block:
            self.element(f"{where}/accessory", block["accessory"], set())

    def context(self, where: str, block: dict[str, Any]) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= 10:
            self.add(f"{where}/elements", "must hold between 1 and 10 elements")
            return
        for i, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") in TEXT_TYPES:
                self.text(f"{where}/elements/{i}", element, 3000)
            elif not (isinstance(element, dict) and element.get("type") == "image"):
                self.add(f"{where}/elements/{i}", "must be a text object or an image")

    def actions(self, where: str, block: dict[str, Any]) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= 25:
            self.add(f"{where}/elements", "must hold between 1 and 25 elements")
            return
        seen: set[str] = set()
        for i, element in enumerate(elements):
            self.element(f"{where}/elements/{i}", element, seen)

    def input(self, where: str, block: dict[str, Any], *, modal: bool) -> None:
        self.text(f"{where}/label", block.get("label"), 2000, plain_only=True)
        if "hint" in block:
            self.text(f"{where}/hint", block["hint"], 2000, plain_only=True)
        if "element" not in block:
            self.add(f"{where}/element", "is required")
        else:
            self.element(f"{where}/element", block["element"], set())

    def element(self, where: str, element: Any, seen_action_ids: set[str]) -> None:
        if not isinstance(element, dict):
            self.add(where, "must be an object")
            return
        kind = element.get("type")
        if "action_id" in element:
            self.identifier(f"{where}/action_id", element["action_id"])
            # Slack keys state and actions by block, so an action_id is unique within its block.
            if element["action_id"] in seen_action_ids:
                self.add(f"{where}/action_id", "action_id must be unique within the block")
            seen_action_ids.add(str(element["action_id"]))
        if "placeholder" in element:
            self.text(f"{where}/placeholder", element["placeholder"], 150, plain_only=True)
        if kind == "button":
            self.text(f"{where}/text", element.get("text"), 75, plain_only=True)
            if "value" in element:
                self.length(f"{where}/value", element["value"], 2000)
        elif kind == "plain_text_input":
            self.text_input(where, element)
        if kind in OPTION_ELEMENTS:
            self.options(where, element, kind)

    def text_input(self, where: str, element: dict[str, Any]) -> None:
        top = element.get("max_length", 3000)
        if not isinstance(top, int) or not 0 < top <= 3000:
            self.add(f"{where}/max_length", "must be between 1 and 3000")
            top = 3000
        if "initial_value" in element:
            self.length(f"{where}/initial_value", element["initial_value"], top)

    def options(self, where: str, element: dict[str, Any], kind: str) -> None:
        options = element.get("options")
        if options is None:
            if (
                kind
                in {
                    "static_select",
                    "multi_static_select",
                    "radio_buttons",
                    "checkboxes",
                    "overflow",
                }
                and "option_groups" not in element
            ):
                self.add(f"{where}/options", "is required")
            return
        if not isinstance(options, list) or not 0 < len(options) <= 100:
            self.add(f"{where}/options", "must hold between 1 and 100 options")
            return
        values: list[Any] = []
        for i, opt in enumerate(options):
            here = f"{where}/options/{i}"
            if not isinstance(opt, dict):
                self.add(here, "must be an option object")
                continue
            # Options of selects and overflow menus are plain_text; radios may be mrkdwn.
            plain_only = kind in SELECTS or kind == "overflow"
            self.text(f"{here}/text", opt.get("text"), 75, plain_only=plain_only)
            self.length(f"{here}/value", opt.get("value"), 150, least=1)
            values.append(opt.get("value"))
        if len(values) != len({str(v) for v in values}):
            self.add(f"{where}/options", "option values must be unique")
        initial = element.get("initial_option")
        if initial is not None and initial not in options:
            self.add(f"{where}/initial_option", "must match one of the provided options")


# ---- slack_sdk's models, walked recursively ----------------------------------------------


def _objects(obj: Any) -> Iterator[JsonObject]:
    """`obj` and every JsonObject below it."""
    if isinstance(obj, JsonObject):
        yield obj
        for value in vars(obj).values():
            yield from _objects(value)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _objects(item)


def _sdk_problems(where: str, model: JsonObject | None) -> list[str]:
    if model is None:
        return [f"unsupported type [json-pointer:{where}]"]
    problems: list[str] = []
    for obj in _objects(model):
        try:
            obj.validate_json()
        except SlackObjectFormationError as exc:
            problems.append(f"{exc} [json-pointer:{where}]")
        for opt_list in (getattr(obj, "options", None), getattr(obj, "initial_options", None)):
            if isinstance(opt_list, list) and all(isinstance(o, dict) for o in opt_list):
                for opt in Option.parse_all(opt_list) or []:
                    try:
                        opt.validate_json()
                    except SlackObjectFormationError as exc:
                        problems.append(f"{exc} [json-pointer:{where}]")
    return problems


def _sdk_block_problems(where: str, blocks: list[Any]) -> list[str]:
    problems: list[str] = []
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue  # reported by the checker
        try:
            parsed = Block.parse(block)
        except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"{exc} [json-pointer:{where}/{i}]")
            continue
        problems += _sdk_problems(f"{where}/{i}", parsed)
    return problems


def _unique(problems: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(problems))


# ---- what FakeSlack calls ------------------------------------------------------------------


def check_message(params: dict[str, Any], *, allow_empty: bool = False) -> Refusal | None:
    """Why Slack would refuse a message (chat.*, a response_url post), or None if it is fine."""
    blocks = params.get("blocks")
    if isinstance(blocks, str) and blocks.strip():
        return Refusal("invalid_blocks_format", ("blocks must be a JSON array",))
    if blocks is not None and blocks != "" and not isinstance(blocks, list):
        return Refusal("invalid_blocks_format", ("blocks must be a JSON array",))
    text = params.get("text")
    if text is not None and not isinstance(text, str):
        return Refusal("invalid_arguments", ("text must be a string [json-pointer:/text]",))
    if isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX:
        return Refusal("msg_too_long", ())
    has_blocks = isinstance(blocks, list) and len(blocks) > 0
    if not (text or has_blocks or params.get("attachments")) and not allow_empty:
        return Refusal("no_text", ())
    if isinstance(blocks, list):
        checker = _Checker()
        checker.blocks("/blocks", blocks, MESSAGE_BLOCKS_MAX, modal=False)
        problems = checker.problems + _sdk_block_problems("/blocks", blocks)
        if problems:
            return Refusal("invalid_blocks", _unique(problems))
    return None


def check_view(view: Any) -> Refusal | None:
    """Why Slack would refuse a view (views.open/update/push/publish), or None."""
    if isinstance(view, str):
        return Refusal("invalid_arguments", ("view must be a JSON object [json-pointer:/view]",))
    if not isinstance(view, dict):
        return Refusal("invalid_arguments", ("missing required field: view",))
    checker = _Checker()
    kind = view.get("type")
    if kind not in {"modal", "home"}:
        checker.add("/view/type", "must be modal or home")
    if kind == "modal":
        checker.text("/view/title", view.get("title"), 24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                checker.text(f"/view/{key}", view[key], 24, plain_only=True)
        has_input = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or []
        )
        if has_input and "submit" not in view:
            checker.add("/view/submit", "is required when the view has input blocks")
    if "private_metadata" in view:
        checker.length("/view/private_metadata", view["private_metadata"], 3000)
    if "callback_id" in view:
        checker.length("/view/callback_id", view["callback_id"], ID_MAX)
    blocks = view.get("blocks")
    if blocks is None:
        checker.add("/view/blocks", "is required")
        blocks = []
    checker.blocks("/view/blocks", blocks, VIEW_BLOCKS_MAX, modal=kind == "modal")
    problems = list(checker.problems)
    if isinstance(blocks, list):
        problems += _sdk_block_problems("/view/blocks", blocks)
    with contextlib.suppress(TypeError):
        fields = {k: v for k, v in view.items() if k != "blocks"}
        model = View(**fields, blocks=[b for b in blocks if isinstance(b, dict)])
        problems += _sdk_problems("/view", model)
    if problems:
        return Refusal("invalid_arguments", _unique(problems))
    return None


def check_call(method: str, params: dict[str, Any]) -> Refusal | None:
    """Why Slack would refuse this Web API call's content, or None (other methods pass)."""
    if method in MESSAGE_METHODS:
        return check_message(params)
    if method in VIEW_METHODS:
        return check_view(params.get("view"))
    return None


def check_ack(body: Any) -> Refusal | None:
    """Why Slack would refuse the bot's HTTP answer to a slash command or an interaction.

    An empty answer is fine; a view answer (`response_action: update|push`) is a view; anything
    else with text or blocks is a message.
    """
    if not isinstance(body, dict) or not body:
        return None
    if body.get("response_action") in {"update", "push"}:
        return check_view(body.get("view"))
    if body.get("response_action") in {"errors", "clear"}:
        return None
    return check_message(body, allow_empty=True)
