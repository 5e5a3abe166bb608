"""Who is on the steering group, checked on the server for every privileged action."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.settings import Settings

log = logging.getLogger(__name__)


class SteeringGroup:
    """Who belongs to the steering group: configured IDs plus the members of a user group."""

    CACHE_SECONDS = 300.0

    def __init__(self, settings: Settings, client: WebClient) -> None:
        self._settings = settings
        self._client = client
        self._lock = threading.Lock()
        self._group_members: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")

    def is_member(self, user_id: str) -> bool:
        """True when the user may act for the steering group."""
        if user_id in self._settings.steering_members:
            return True
        return user_id in self._usergroup_members()

    def _usergroup_members(self) -> frozenset[str]:
        usergroup = self._settings.steering_usergroup
        if not usergroup:
            return frozenset()
        with self._lock:
            if time.monotonic() - self._fetched_at < self.CACHE_SECONDS:
                return self._group_members
            try:
                response = self._client.usergroups_users_list(usergroup=usergroup)
                self._group_members = frozenset(response.get("users") or [])
                self._fetched_at = time.monotonic()
            except SlackApiError as exc:
                # Keep the last known members: a Slack hiccup must not lock the group out.
                log.warning("could not read user group %s: %s", usergroup, exc)
            return self._group_members
