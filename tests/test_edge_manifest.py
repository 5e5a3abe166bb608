"""The Slack app manifest asks only for what the code uses, and the README says what needs what."""

from __future__ import annotations

import re
from itertools import takewhile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/*.py"), *ROOT.glob("scheduler/*.py")]

# The bot-token scopes each Web API method needs (Slack's method reference).
SCOPE_OF_METHOD: dict[str, tuple[str, ...]] = {
    "auth_test": (),
    "chat_postMessage": ("chat:write",),
    "chat_update": ("chat:write",),
    "chat_postEphemeral": ("chat:write",),
    "chat_delete": ("chat:write",),
    "chat_getPermalink": (),
    "views_open": (),
    "views_update": (),
    "views_push": (),
    "views_publish": (),
    "usergroups_users_list": ("usergroups:read",),
    "reactions_get": ("reactions:read",),
    "reactions_add": ("reactions:write",),
    # The proposals channel may be public or private.
    "conversations_history": ("channels:history", "groups:history"),
    # A digest taken over after a crash: is its thread filled already?
    "conversations_replies": ("channels:history", "groups:history"),
    # The SLA digest's chart: files.getUploadURLExternal, files.completeUploadExternal.
    "files_upload_v2": ("files:write",),
}
# The scope each Events API subscription needs.
SCOPE_OF_EVENT: dict[str, str | None] = {
    "app_home_opened": None,
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    # Replies in a card's thread: the steering group's decisions.
    "message.channels": "channels:history",
    "message.groups": "groups:history",
}


def _manifest_list(key: str) -> list[str]:
    lines = (ROOT / "manifest.yml").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{key}:")
    indent = len(lines[start]) - len(lines[start].lstrip())
    items = []
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped and len(line) - len(line.lstrip()) <= indent and not stripped.startswith("-"):
            break
        if stripped.startswith("- "):
            items.append(stripped[2:].split("#")[0].strip())
    return items


def _used_methods() -> set[str]:
    found: set[str] = set()
    for path in CODE:
        found |= set(re.findall(r"\.(\w+_\w+)\(", path.read_text(encoding="utf-8"))) & set(
            SCOPE_OF_METHOD
        )
        unknown = {
            m
            for m in re.findall(r"client\.(\w+)\(", path.read_text(encoding="utf-8"))
            if m not in SCOPE_OF_METHOD
        }
        assert not unknown, f"{path.name} calls {unknown}: add their scopes to this test"
    return found


def test_the_manifest_asks_for_exactly_the_scopes_the_code_uses() -> None:
    events = _manifest_list("bot_events")
    needed = {scope for m in _used_methods() for scope in SCOPE_OF_METHOD[m]} | {
        SCOPE_OF_EVENT[e] for e in events if e in SCOPE_OF_EVENT
    }
    needed |= {"commands"}  # /improve
    assert sorted(_manifest_list("bot")) == sorted(s for s in needed if s)


def test_every_subscribed_event_has_a_handler_that_acts_on_it() -> None:
    events = _manifest_list("bot_events")
    assert set(events) <= set(SCOPE_OF_EVENT), "a subscribed event no feature acts on"
    handled = set()
    for path in ROOT.glob("handlers/*.py"):
        handled |= set(re.findall(r'@app\.event\("(\w+)"\)', path.read_text(encoding="utf-8")))
    # `message.channels` and `message.groups` both arrive as the `message` event.
    assert {event.split(".")[0] for event in events} <= handled


def test_the_readme_says_which_feature_needs_each_scope_and_event() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Slack permissions", 1)[1].splitlines()
    start = next(i for i, line in enumerate(section) if line.startswith("|"))
    table = "\n".join(takewhile(lambda line: line.startswith("|"), section[start:]))
    for name in [*_manifest_list("bot"), *_manifest_list("bot_events")]:
        assert f"`{name}`" in table, name
