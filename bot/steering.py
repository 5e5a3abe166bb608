"""Who is on the steering group, checked on the server for every privileged action."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.notify import UNREACHABLE
from bot.settings import Settings

log = logging.getLogger(__name__)


class SteeringGroup:
    """Who belongs to the steering group: configured IDs plus the members of a user group.

    The user group's members are read from Slack in the background (first when the bot starts,
    then whenever they are older than CACHE_SECONDS), never on a request's path before its ack:
    a check answers from the last members known.
    """

    CACHE_SECONDS = 300.0
    # A check made before the first read has finished waits this long for it, at most.
    FIRST_FILL_WAIT = 1.0

    def __init__(self, settings: Settings, client: WebClient) -> None:
        self._settings = settings
        self._client = client
        self._lock = threading.Lock()
        self._group_members: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        self._refreshing = False
        self._filled = threading.Event()
        if settings.steering_usergroup:
            self._refresh_in_background()
        else:
            self._filled.set()

    def is_member(self, user_id: str) -> bool:
        """True when the user may act for the steering group."""
        if user_id in self._settings.steering_members:
            return True
        if not self._settings.steering_usergroup:
            return False
        if time.monotonic() - self._fetched_at >= self.CACHE_SECONDS:
            self._refresh_in_background()
        self._filled.wait(self.FIRST_FILL_WAIT)
        return user_id in self._group_members

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self._refresh, name="csi-steering", daemon=True).start()

    def _refresh(self) -> None:
        usergroup = self._settings.steering_usergroup or ""
        try:
            response = self._client.usergroups_users_list(usergroup=usergroup)
            self._group_members = frozenset(response.get("users") or [])
            self._fetched_at = time.monotonic()
        except SlackApiError as exc:
            # Keep the last known members: a Slack hiccup must not lock the group out.
            log.warning("could not read user group %s: %s", usergroup, exc.response.get("error"))
        except UNREACHABLE as exc:
            log.warning("could not read user group %s: %s", usergroup, exc)
        finally:
            with self._lock:
                self._refreshing = False
            self._filled.set()
