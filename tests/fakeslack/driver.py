"""Send requests to the bot exactly as Slack does: real payload shapes, v0 signatures.

Only the standard library is used, so the driver exercises the bot's HTTP stack as a
black box. Payload shapes follow Slack's documentation of slash commands, interactivity
payloads (block_actions, view_submission, block_suggestion) and the Events API.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlencode

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
VERIFICATION_TOKEN = "verification-token-deprecated"  # Slack still sends one; Bolt ignores it

_seq = itertools.count(1)  # process-wide so ids stay unique across driver instances

Json = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """The bot's HTTP answer; 4xx/5xx are returned, not raised."""

    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Slack's v0 request signature of `body` sent at `timestamp`."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _slack_ts() -> str:
    """A fresh, unique Slack-style timestamp ("seconds.micros")."""
    return f"{int(time.time())}.{next(_seq) % 1_000_000:06d}"


@dataclass(frozen=True)
class SlackDriver:
    """Signs and posts Slack-shaped requests to `{base_url}/slack/events`."""

    base_url: str
    signing_secret: str
    team_id: str = "T0001"
    team_domain: str = "example"
    api_app_id: str = "A0001"
    bot_user_id: str = "UBOT"
    response_url_base: str = "https://hooks.slack.com/actions/T0001/"
    path: str = "/slack/events"
    timeout: float = 10.0

    @property
    def url(self) -> str:
        """Where Slack posts: the bot's Request URL."""
        return self.base_url.rstrip("/") + self.path

    def with_options(self, **changes: Any) -> SlackDriver:
        """A copy with some settings changed, e.g. `with_options(signing_secret="wrong")`."""
        return replace(self, **changes)

    # ---- transport -----------------------------------------------------------------
    def signed(
        self,
        body: bytes,
        timestamp: int | None = None,
        secret: str | None = None,
        content_type: str | None = None,
    ) -> dict[str, str]:
        """Headers Slack would send with `body`; override timestamp/secret to forge them."""
        ts = int(time.time()) if timestamp is None else timestamp
        return {
            "Content-Type": content_type or (JSON if body.startswith(b"{") else FORM),
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(secret or self.signing_secret, ts, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    def raw(
        self, body: bytes, headers: dict[str, str], *, method: str = "POST", path: str | None = None
    ) -> Reply:
        """Send `body` with exactly `headers` (no signing added)."""
        url = self.base_url.rstrip("/") + (path or self.path)
        req = urllib.request.Request(
            url, data=body if method != "GET" else None, headers=headers, method=method
        )
        # An empty ProxyHandler: loopback requests must never go through an env proxy.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                return Reply(resp.status, resp.read().decode(), dict(resp.headers.items()))
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.read().decode(), dict(err.headers.items()))

    def post(self, body: bytes, extra_headers: dict[str, str] | None = None) -> Reply:
        """Sign `body` with the secret and current time, then send it."""
        return self.raw(body, {**self.signed(body), **(extra_headers or {})})

    def get(self, path: str) -> Reply:
        """A plain GET on the bot, e.g. `get("/healthz")`."""
        return self.raw(b"", {}, method="GET", path=path)

    def body_of(self, send: Callable[[SlackDriver], Any]) -> bytes:
        """The exact body a driver call would post, without posting it, e.g.
        `body_of(lambda d: d.view_submission(view, ...))`, to send it several times."""
        recorder = _BodyRecorder(**{f.name: getattr(self, f.name) for f in fields(self)})
        send(recorder)
        return recorder.bodies[-1]

    def at_once(self, body: bytes, copies: int = 8) -> list[Reply]:
        """Send `copies` of one signed body at the same moment, as Slack's retries and a
        person's double click can; the answers in the order the copies were started."""
        headers = self.signed(body)
        start = threading.Barrier(copies)

        def send() -> Reply:
            start.wait()
            return self.raw(body, headers)

        with ThreadPoolExecutor(max_workers=copies) as pool:
            sent = [pool.submit(send) for _ in range(copies)]
            return [future.result() for future in sent]

    def interactive(self, payload: Any) -> Reply:
        """Sign and send any interactivity payload as Slack does (form field `payload`)."""
        return self.post(self._interactive(payload))

    def event_body(self, envelope: Any) -> Reply:
        """Sign and send any Events API body as JSON."""
        return self.post(json.dumps(envelope).encode(), {"Content-Type": JSON})

    # ---- common shapes ---------------------------------------------------------------
    def trigger_id(self) -> str:
        """A fresh trigger_id in Slack's format."""
        return f"{int(time.time())}.{next(_seq)}.{secrets.token_hex(16)}"

    def user(self, user_id: str) -> Json:
        """The `user` object of interactivity payloads."""
        name = user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def team(self) -> Json:
        """The `team` object of interactivity payloads."""
        return {"id": self.team_id, "domain": self.team_domain}

    def response_url(self) -> str:
        """A unique response_url; point `response_url_base` at FakeSlack to record replies."""
        return f"{self.response_url_base}{next(_seq)}/{secrets.token_hex(12)}"

    def _interactive(self, payload: Any) -> bytes:
        return urlencode({"payload": json.dumps(payload)}).encode()

    # ---- slash commands --------------------------------------------------------------
    def slash_command_body(
        self,
        text: str = "",
        *,
        command: str = "/improve",
        user_id: str = "U0001",
        channel_id: str = "C0001",
        channel_name: str = "general",
        trigger_id: str | None = None,
    ) -> bytes:
        """The form body of a slash command invocation."""
        return urlencode(
            {
                "token": VERIFICATION_TOKEN,
                "team_id": self.team_id,
                "team_domain": self.team_domain,
                "channel_id": channel_id,
                "channel_name": channel_name,
                "user_id": user_id,
                "user_name": user_id.lower(),
                "command": command,
                "text": text,
                "api_app_id": self.api_app_id,
                "is_enterprise_install": "false",
                "response_url": self.response_url(),
                "trigger_id": trigger_id or self.trigger_id(),
            }
        ).encode()

    def slash_command(
        self,
        text: str = "",
        *,
        command: str = "/improve",
        user_id: str = "U0001",
        channel_id: str = "C0001",
        trigger_id: str | None = None,
    ) -> Reply:
        """Invoke a slash command, as a user typing `/improve text` would."""
        return self.post(
            self.slash_command_body(
                text, command=command, user_id=user_id, channel_id=channel_id, trigger_id=trigger_id
            )
        )

    # ---- interactivity ---------------------------------------------------------------
    def block_actions(
        self,
        actions: list[Json],
        *,
        user_id: str = "U0001",
        view: Json | None = None,
        container: Json | None = None,
        channel_id: str | None = None,
        message: Json | None = None,
        trigger_id: str | None = None,
    ) -> Reply:
        """Click/select in a message (give channel_id+message) or in a view (give view)."""
        now = f"{time.time():.6f}"
        acts = [
            {"type": "button", "block_id": f"b{i}", "action_ts": now, **a}
            for i, a in enumerate(actions)
        ]
        payload: Json = {
            "type": "block_actions",
            "user": self.user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id or self.trigger_id(),
            "team": self.team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": acts,
        }
        if view is not None:
            full = self._full_view(view)
            payload["view"] = full
            payload["container"] = container or {"type": "view", "view_id": full["id"]}
            payload["state"] = full["state"]
        else:
            msg = message or {"type": "message", "ts": _slack_ts(), "text": ""}
            channel = channel_id or "C0001"
            payload["container"] = container or {
                "type": "message",
                "message_ts": msg["ts"],
                "channel_id": channel,
                "is_ephemeral": False,
            }
            payload.update(
                channel={"id": channel, "name": "general"},
                message=msg,
                state={"values": {}},
                response_url=self.response_url(),
            )
        return self.post(self._interactive(payload))

    def view_submission(
        self,
        view: Json,
        *,
        user_id: str = "U0001",
        state_values: Json | None = None,
        callback_id: str | None = None,
        private_metadata: str | None = None,
    ) -> Reply:
        """Submit a modal. `view` may be the one the bot opened (e.g. from views.open's
        recorded response). In `state_values` a plain string is shorthand for a
        plain_text_input value: {"block": {"action": "text"}}."""
        full = self._full_view(view, state_values, callback_id, private_metadata)
        payload: Json = {
            "type": "view_submission",
            "team": self.team(),
            "user": self.user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.trigger_id(),
            "view": full,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.post(self._interactive(payload))

    def view_closed(self, view: Json, *, user_id: str = "U0001") -> Reply:
        """The user closed a modal opened with notify_on_close."""
        payload: Json = {
            "type": "view_closed",
            "team": self.team(),
            "user": self.user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "view": self._full_view(view),
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.post(self._interactive(payload))

    def block_suggestion(
        self,
        action_id: str,
        value: str,
        *,
        block_id: str = "b0",
        user_id: str = "U0001",
        view: Json | None = None,
    ) -> Reply:
        """Ask the bot for external_select options while the user types `value`."""
        payload: Json = {
            "type": "block_suggestion",
            "user": self.user(user_id),
            "team": self.team(),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "action_ts": f"{time.time():.6f}",
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if view is not None:
            full = self._full_view(view)
            payload.update(view=full, container={"type": "view", "view_id": full["id"]})
        return self.post(self._interactive(payload))

    def _full_view(
        self,
        view: Json,
        state_values: Json | None = None,
        callback_id: str | None = None,
        private_metadata: str | None = None,
    ) -> Json:
        """Complete a view into the shape Slack sends back with interactions."""
        full = copy.deepcopy(view)
        vid = full.get("id") or f"V{next(_seq):06d}"
        full.setdefault("id", vid)
        full.setdefault("team_id", self.team_id)
        full.setdefault("type", "modal")
        full.setdefault("blocks", [])
        full.setdefault("callback_id", "")
        full.setdefault("private_metadata", "")
        full.setdefault("hash", f"{time.time():.6f}.{vid.lower()}")
        full.setdefault("root_view_id", vid)
        full.setdefault("previous_view_id", None)
        full.setdefault("app_id", self.api_app_id)
        full.setdefault("external_id", "")
        full.setdefault("app_installed_team_id", self.team_id)
        full.setdefault("bot_id", "BBOT")
        for key in ("clear_on_close", "notify_on_close"):
            full.setdefault(key, False)
        if callback_id is not None:
            full["callback_id"] = callback_id
        if private_metadata is not None:
            full["private_metadata"] = private_metadata
        values = (
            state_values if state_values is not None else full.get("state", {}).get("values", {})
        )
        full["state"] = {
            "values": {
                block: {
                    action: {"type": "plain_text_input", "value": v} if isinstance(v, str) else v
                    for action, v in actions.items()
                }
                for block, actions in values.items()
            }
        }
        return full

    # ---- Events API ------------------------------------------------------------------
    def event(
        self,
        event: Json,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> Reply:
        """Deliver an `event_callback`; with retry_num, as Slack's retry of `event_id`."""
        envelope: Json = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_seq):010d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{next(_seq):08d}",
        }
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra["X-Slack-Retry-Num"] = str(retry_num)
            extra["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return self.post(json.dumps(envelope).encode(), extra)

    def reaction_added(
        self,
        user: str,
        reaction: str,
        channel: str,
        ts: str,
        *,
        item_user: str = "U0001",
        **kw: Any,
    ) -> Reply:
        """A user added an emoji reaction to the message `ts` in `channel`."""
        return self.event(
            self._reaction("reaction_added", user, reaction, channel, ts, item_user), **kw
        )

    def reaction_removed(
        self,
        user: str,
        reaction: str,
        channel: str,
        ts: str,
        *,
        item_user: str = "U0001",
        **kw: Any,
    ) -> Reply:
        """A user removed an emoji reaction from the message `ts` in `channel`."""
        return self.event(
            self._reaction("reaction_removed", user, reaction, channel, ts, item_user), **kw
        )

    @staticmethod
    def _reaction(
        kind: str, user: str, reaction: str, channel: str, ts: str, item_user: str
    ) -> Json:
        return {
            "type": kind,
            "user": user,
            "reaction": reaction,
            "item_user": item_user,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": _slack_ts(),
        }

    def message(
        self,
        user: str,
        text: str,
        channel: str,
        ts: str | None = None,
        thread_ts: str | None = None,
        **kw: Any,
    ) -> Reply:
        """A user posted `text` in `channel` (in a thread when thread_ts is given)."""
        ts = ts or _slack_ts()
        event: Json = {
            "type": "message",
            "client_msg_id": f"{next(_seq):08x}-0000-4000-8000-000000000000",
            "text": text,
            "user": user,
            "ts": ts,
            "team": self.team_id,
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": "rt0",
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                    ],
                }
            ],
            "channel": channel,
            "event_ts": ts,
            "channel_type": "im" if channel.startswith("D") else "channel",
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
            event["parent_user_id"] = "U0001"
        return self.event(event, **kw)

    def app_home_opened(self, user: str, *, channel: str | None = None, **kw: Any) -> Reply:
        """The user opened the app's Home tab."""
        return self.event(
            {
                "type": "app_home_opened",
                "user": user,
                "channel": channel or "D" + user.lstrip("UW"),
                "tab": "home",
                "event_ts": _slack_ts(),
            },
            **kw,
        )

    def url_verification(self, challenge: str) -> Reply:
        """The handshake Slack sends when the Request URL is configured."""
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return self.post(json.dumps(body).encode())


@dataclass(frozen=True)
class _BodyRecorder(SlackDriver):
    """A driver that records what it would post instead of posting it."""

    bodies: list[bytes] = field(default_factory=list)

    def post(self, body: bytes, extra_headers: dict[str, str] | None = None) -> Reply:
        self.bodies.append(body)
        return Reply(200, "", {})
