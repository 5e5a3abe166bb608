"""The Web API methods FakeSlack answers, and the workspace data they read and write.

Answers follow the shapes of the real Slack Web API (https://docs.slack.dev/reference/methods)
closely enough for slack_sdk and slack_bolt, and for assertions in tests.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

TEAM_ID = "T0001"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A0001"
WORKSPACE_URL = "https://example.slack.com/"

Json = dict[str, Any]


class SlackWorkspace:
    """A tiny workspace: users, usergroups, messages, reactions, files; and the methods.

    A Web API method `a.b` is answered by `_api_a_b(params)`; none means unknown_method.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ts_lock = threading.Lock()
        self._last_ts = 0.0
        self._ids = itertools.count(1)
        self.users: dict[str, Json] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.messages: dict[tuple[str, str], Json] = {}  # (channel, ts) -> message
        self.reactions: dict[tuple[str, str], dict[str, list[str]]] = {}
        self.files: dict[str, Json] = {}

    @property
    def base_url(self) -> str:
        """The server root; files.getUploadURLExternal hands out upload URLs under it."""
        raise NotImplementedError

    def answer(self, method: str, params: Json) -> Json:
        """The Web API's answer to `method` called with `params`."""
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        return handler(params) if handler else {"ok": False, "error": "unknown_method"}

    # ---- seeding -----------------------------------------------------------------------
    def add_user(self, user_id: str, name: str | None = None, **extra: Any) -> Json:
        """Register a user for users.info; unknown ids get a generated profile anyway."""
        user = self._default_user(user_id, name)
        user.update(extra)
        with self._lock:
            self.users[user_id] = user
        return user

    def set_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """Set the members answered by usergroups.users.list for `usergroup_id`."""
        with self._lock:
            self.usergroups[usergroup_id] = list(users)

    def add_message(
        self,
        channel: str,
        ts: str,
        text: str = "",
        user: str = "U0001",
        thread_ts: str | None = None,
        **extra: Any,
    ) -> Json:
        """Seed a message (e.g. one a human wrote) for conversations.replies/reactions.get."""
        msg: Json = {"type": "message", "user": user, "text": text, "ts": ts, **extra}
        if thread_ts:
            msg["thread_ts"] = thread_ts
        with self._lock:
            self.messages[(channel, ts)] = msg
        return msg

    def add_reaction(self, channel: str, ts: str, name: str, user: str) -> None:
        """Seed a reaction on a message, as reactions.get will report it."""
        with self._lock:
            users = self.reactions.setdefault((channel, ts), {}).setdefault(name, [])
            if user not in users:
                users.append(user)

    def remove_reaction(self, channel: str, ts: str, name: str, user: str) -> None:
        """Take a seeded reaction away again (someone withdrew it)."""
        with self._lock:
            users = self.reactions.get((channel, ts), {}).get(name, [])
            if user in users:
                users.remove(user)

    # ---- helpers and the methods ------------------------------------------------------
    def _next_ts(self) -> str:
        # Like Slack's: the time of posting in seconds (a bot searching the history by time
        # finds its messages), unique and increasing.
        with self._ts_lock:
            self._last_ts = max(time.time(), self._last_ts + 0.0001)
            return f"{self._last_ts:.6f}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def _default_user(self, user_id: str, name: str | None = None) -> Json:
        name = name or user_id.lower()
        return {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": name.title(),
            "deleted": False,
            "is_bot": False,
            "tz": "UTC",
            "tz_label": "UTC",
            "tz_offset": 0,
            "profile": {
                "real_name": name.title(),
                "display_name": name,
                "email": f"{name}@example.com",
            },
        }

    def _dm_channel(self, user_id: str) -> str:
        # A stable D-channel per user, as Slack keeps one IM per user pair.
        return "D" + user_id.lstrip("UW")

    # ---- the Web API methods ------------------------------------------------------------
    def _api_auth_test(self, p: Json) -> Json:
        return {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": "Example",
            "user": "csi-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _message(self, p: Json, ts: str) -> Json:
        msg: Json = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": p.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if p.get(key):
                msg[key] = p[key]
        return msg

    def _channel_of(self, p: Json) -> str:
        channel = str(p.get("channel", ""))
        return self._dm_channel(channel) if channel[:1] in ("U", "W") else channel

    def _api_chat_postMessage(self, p: Json) -> Json:
        if not p.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not (p.get("text") or p.get("blocks") or p.get("attachments")):
            return {"ok": False, "error": "no_text"}
        channel, ts = self._channel_of(p), self._next_ts()
        msg = self._message(p, ts)
        with self._lock:
            self.messages[(channel, ts)] = msg
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    def _api_chat_update(self, p: Json) -> Json:
        channel, ts = self._channel_of(p), str(p.get("ts", ""))
        msg = self._message(p, ts)
        with self._lock:
            old = self.messages.get((channel, ts))
            if old is not None:  # keep thread fields etc. that chat.update does not touch
                msg = {**old, **msg}
            self.messages[(channel, ts)] = msg
        return {"ok": True, "channel": channel, "ts": ts, "text": msg["text"], "message": msg}

    def _api_chat_postEphemeral(self, p: Json) -> Json:
        return {"ok": True, "message_ts": self._next_ts()}

    def _api_chat_delete(self, p: Json) -> Json:
        channel, ts = self._channel_of(p), str(p.get("ts", ""))
        with self._lock:
            self.messages.pop((channel, ts), None)
        return {"ok": True, "channel": channel, "ts": ts}

    def _api_chat_getPermalink(self, p: Json) -> Json:
        channel, ts = str(p.get("channel", "")), str(p.get("message_ts", ""))
        link = f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _view(self, p: Json, view_id: str | None = None) -> Json:
        view = p.get("view") or {}
        vid = view_id or self._next_id("V")
        return {
            "ok": True,
            "view": {
                "id": vid,
                "team_id": TEAM_ID,
                "type": view.get("type", "modal"),
                "callback_id": "",
                "private_metadata": "",
                "external_id": "",
                **view,
                "state": {"values": {}},
                "hash": f"{time.time():.6f}.{vid.lower()}",
                "root_view_id": vid,
                "previous_view_id": None,
                "app_id": APP_ID,
                "app_installed_team_id": TEAM_ID,
                "bot_id": BOT_ID,
            },
        }

    def _api_views_open(self, p: Json) -> Json:
        if not p.get("trigger_id") and not p.get("interactivity_pointer"):
            why = "[ERROR] missing required field: trigger_id"
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [why]},
            }
        return self._view(p)

    _api_views_push = _api_views_open

    def _api_views_update(self, p: Json) -> Json:
        return self._view(p, p.get("view_id") or None)

    def _api_views_publish(self, p: Json) -> Json:
        return self._view(p)

    def _api_users_info(self, p: Json) -> Json:
        uid = str(p.get("user", ""))
        with self._lock:
            user = self.users.get(uid)
        return {"ok": True, "user": user or self._default_user(uid)}

    def _api_usergroups_users_list(self, p: Json) -> Json:
        with self._lock:
            users = self.usergroups.get(str(p.get("usergroup", "")))
        if users is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(users)}

    def _api_conversations_open(self, p: Json) -> Json:
        if p.get("channel"):
            return {
                "ok": True,
                "no_op": True,
                "already_open": True,
                "channel": {"id": p["channel"]},
            }
        users = [u for u in str(p.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        prefix = "G" if len(users) > 1 else "D"
        cid = prefix + users[0].lstrip("UW") if prefix == "D" else self._next_id("G")
        return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": cid}}

    def _api_conversations_replies(self, p: Json) -> Json:
        channel, ts = str(p.get("channel", "")), str(p.get("ts", ""))
        with self._lock:
            parent = self.messages.get((channel, ts))
            replies = sorted(
                (
                    m
                    for (c, _), m in self.messages.items()
                    if c == channel and m.get("thread_ts") == ts and m["ts"] != ts
                ),
                key=lambda m: m["ts"],
            )
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        head = {**parent, "thread_ts": ts, "reply_count": len(replies)} if replies else parent
        return {
            "ok": True,
            "messages": [head, *replies],
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _api_conversations_history(self, p: Json) -> Json:
        # Top-level messages, newest first; like Slack, message metadata only on request.
        channel = str(p.get("channel", ""))
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
        limit, offset = int(p.get("limit") or 100), int(p.get("cursor") or 0)
        with_metadata = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        with self._lock:
            found = sorted(
                (
                    dict(m)
                    for (c, ts), m in self.messages.items()
                    if c == channel and m.get("thread_ts", ts) == ts and oldest < float(ts) < latest
                ),
                key=lambda m: float(m["ts"]),
                reverse=True,
            )
        page = found[offset : offset + limit]
        if not with_metadata:
            for message in page:
                message.pop("metadata", None)
        more = offset + limit < len(found)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": str(offset + limit) if more else ""},
        }

    def _api_reactions_get(self, p: Json) -> Json:
        channel, ts = str(p.get("channel", "")), str(p.get("timestamp", ""))
        with self._lock:
            msg = self.messages.get((channel, ts))
            found = self.reactions.get((channel, ts), {})
            reactions = [
                {"name": n, "users": list(u), "count": len(u)} for n, u in found.items() if u
            ]
        if msg is None and not found:
            return {"ok": False, "error": "message_not_found"}
        msg = dict(msg or {"type": "message", "ts": ts, "text": ""})
        if reactions:
            msg["reactions"] = reactions
        return {"ok": True, "type": "message", "channel": channel, "message": msg}

    def _api_reactions_add(self, p: Json) -> Json:
        channel, ts, name = str(p.get("channel")), str(p.get("timestamp")), str(p.get("name"))
        with self._lock:
            if (channel, ts) not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            if BOT_USER_ID in self.reactions.get((channel, ts), {}).get(name, []):
                return {"ok": False, "error": "already_reacted"}
        self.add_reaction(channel, ts, name, BOT_USER_ID)
        return {"ok": True}

    def _api_reactions_remove(self, p: Json) -> Json:
        with self._lock:
            users = self.reactions.get((str(p.get("channel")), str(p.get("timestamp"))), {})
            if BOT_USER_ID not in users.get(str(p.get("name")), []):
                return {"ok": False, "error": "no_reaction"}
            users[str(p.get("name"))].remove(BOT_USER_ID)
        return {"ok": True}

    def _api_files_getUploadURLExternal(self, p: Json) -> Json:
        if not p.get("filename") or not p.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        fid = self._next_id("F")
        with self._lock:
            self.files[fid] = {
                "id": fid,
                "name": p["filename"],
                "length": int(p["length"]),
                "data": None,
                "completed": False,
            }
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{fid}", "file_id": fid}

    def _api_files_completeUploadExternal(self, p: Json) -> Json:
        out = []
        for item in p.get("files") or []:
            with self._lock:
                rec = self.files.get(item.get("id", ""))
                if rec is None or rec["data"] is None:
                    return {"ok": False, "error": "file_not_found"}
                rec.update(
                    title=item.get("title") or rec["name"],
                    completed=True,
                    channel=p.get("channel_id") or p.get("channels"),
                    thread_ts=p.get("thread_ts"),
                    initial_comment=p.get("initial_comment"),
                )
            out.append(
                {
                    "id": rec["id"],
                    "name": rec["name"],
                    "title": rec["title"],
                    "size": len(rec["data"]),
                    "mimetype": "",
                    "user": BOT_USER_ID,
                }
            )
        return {"ok": True, "files": out}

    def uploaded_files(self) -> list[Json]:
        """Files whose upload was completed: id, name, title, channel, length, data, ..."""
        with self._lock:
            return [dict(f) for f in self.files.values() if f["completed"]]
