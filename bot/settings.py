"""Configuration from the environment and `.env`, in one typed object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

DEFAULT_API_URL = "https://slack.com/api/"
_EMOJI_NAME = re.compile(r"[a-z0-9_+'.-]{1,100}")
SIMILARITY_METHODS = ("lexical", "semantic")

# Where a newcomer finds each required value; shown when it is missing.
HOW_TO_GET = {
    "SLACK_BOT_TOKEN": (
        "the Bot User OAuth Token (xoxb-...) from your Slack app's 'OAuth & Permissions' page "
        "(create the app from manifest.yml, then install it to the workspace)"
    ),
    "SLACK_SIGNING_SECRET": "the Signing Secret from your Slack app's 'Basic Information' page",
    "CSI_PROPOSALS_CHANNEL": (
        "the ID of the channel where proposal cards are posted (channel details > About, "
        "at the bottom: an ID like C0123456789); invite the bot there with /invite"
    ),
}


# Slack knows some emoji under two names and sends a reaction under either; a skin tone arrives
# appended (`+1::skin-tone-3`). A small table of the aliases people pick as a vote emoji, so that
# CSI_VOTE_EMOJI=thumbsup and a reaction named +1 are the same vote.
EMOJI_ALIASES: tuple[frozenset[str], ...] = (
    frozenset({"+1", "thumbsup"}),
    frozenset({"-1", "thumbsdown"}),
    frozenset({"hand", "raised_hand"}),
    frozenset({"laughing", "satisfied"}),
    frozenset({"facepunch", "punch"}),
    frozenset({"squirrel", "shipit"}),
)
_SKIN_TONE = re.compile(r"::skin-tone-[2-6]$")


def emoji_name(raw: str) -> str:
    """An emoji as Slack names it in a reaction: without colons, case or skin tone."""
    return _SKIN_TONE.sub("", raw.strip().strip(":").lower()).strip(":")


def emoji_names(name: str) -> frozenset[str]:
    """Every name under which Slack may send this emoji (the name itself and its aliases)."""
    base = emoji_name(name)
    for names in EMOJI_ALIASES:
        if base in names:
            return names
    return frozenset({base})


class SettingsError(Exception):
    """The configuration is incomplete or wrong; the message says what to fix."""


@dataclass(frozen=True)
class Settings:
    """Every variable of the configuration table in the README, parsed."""

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_API_URL
    database_url: str = "sqlite:///./csi.db"
    port: int = 3000
    proposals_channel: str | None = None
    digest_channel: str | None = None
    steering_channel: str | None = None
    steering_members: frozenset[str] = field(default_factory=frozenset)
    steering_usergroup: str | None = None
    vote_emoji: str = "+1"
    timezone: str = "UTC"
    digest_cron: str = "0 9 * * MON"
    poll_cron: str = "0 10 1 * *"
    # For tests only: the CSI_*_CRON settings take a leading seconds field (6 fields).
    cron_seconds: bool = False
    poll_days: int = 7
    benefit_check_days: int = 30
    stale_weeks: int = 6
    allow_self_decision: bool = False
    ingest_token: str | None = None
    similarity_method: str = "lexical"
    # A warning model refitted on the register's own duplicates (`csi-bot similar --calibrate`);
    # None: the model shipped in the package.
    warning_model: str | None = None
    # Where the semantic method keeps its document embeddings between runs; None: next to a
    # SQLite database file, else not kept.
    similarity_embeddings: str | None = None
    # Where the default method keeps its index between runs; None: next to a SQLite database
    # file, else not kept.
    similarity_index: str | None = None

    def is_vote(self, reaction: str) -> bool:
        """True when a reaction (as Slack names it, skin tone and all) is the vote emoji."""
        return emoji_name(reaction) in emoji_names(self.vote_emoji)

    @property
    def socket_mode(self) -> bool:
        """Socket Mode is used when an app-level token is configured."""
        return bool(self.slack_app_token)

    def require_for_serve(self) -> None:
        """Raise SettingsError naming every value `csi-bot serve` needs but lacks."""
        needed = ["SLACK_BOT_TOKEN", "CSI_PROPOSALS_CHANNEL"]
        if not self.socket_mode:
            needed.insert(1, "SLACK_SIGNING_SECRET")
        present = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "CSI_PROPOSALS_CHANNEL": self.proposals_channel,
        }
        missing = [name for name in needed if not present[name]]
        if missing:
            lines = [f"  {name}: {HOW_TO_GET[name]}" for name in missing]
            raise SettingsError(
                "Missing configuration. Set these in the environment or in .env "
                "(see .env.example):\n" + "\n".join(lines)
            )
        if self.slack_bot_token and not self.slack_bot_token.startswith("xoxb-"):
            raise SettingsError("SLACK_BOT_TOKEN must be a bot token starting with 'xoxb-'.")
        if self.slack_app_token and not self.slack_app_token.startswith("xapp-"):
            raise SettingsError("SLACK_APP_TOKEN must be an app-level token starting with 'xapp-'.")

    @classmethod
    def load(cls, env_file: str | Path | None = ".env") -> Settings:
        """Read `.env` (if present) under the process environment, which wins."""
        values: dict[str, str | None] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update(dotenv_values(env_file))
        values.update(os.environ)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str | None]) -> Settings:
        """Parse settings from a mapping of variable names to values."""

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        proposals = get("CSI_PROPOSALS_CHANNEL")
        timezone = get("CSI_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(
                f"CSI_TIMEZONE={timezone!r} is not a known time zone (try 'Europe/Berlin')."
            ) from exc
        api_url = get("SLACK_API_URL") or DEFAULT_API_URL
        if not api_url.endswith("/"):
            api_url += "/"
        members = frozenset(
            member.strip()
            for member in (get("CSI_STEERING_MEMBERS") or "").split(",")
            if member.strip()
        )
        method = (get("CSI_SIMILARITY") or "lexical").lower()
        if method not in SIMILARITY_METHODS:
            raise SettingsError(
                f"CSI_SIMILARITY={method!r}: choose 'lexical' (default) or 'semantic' "
                "(needs `pip install csi-bot[semantic]`)."
            )
        return cls(
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=api_url,
            database_url=get("DATABASE_URL") or "sqlite:///./csi.db",
            port=_integer(get("PORT"), "PORT", 3000),
            proposals_channel=proposals,
            digest_channel=get("CSI_DIGEST_CHANNEL") or proposals,
            steering_channel=get("CSI_STEERING_CHANNEL") or proposals,
            steering_members=members,
            steering_usergroup=get("CSI_STEERING_USERGROUP"),
            vote_emoji=_vote_emoji(get("CSI_VOTE_EMOJI")),
            timezone=timezone,
            digest_cron=get("CSI_DIGEST_CRON") or "0 9 * * MON",
            poll_cron=get("CSI_POLL_CRON") or "0 10 1 * *",
            cron_seconds=_boolean(get("CSI_CRON_SECONDS"), "CSI_CRON_SECONDS", False),
            poll_days=_integer(get("CSI_POLL_DAYS"), "CSI_POLL_DAYS", 7),
            benefit_check_days=_integer(
                get("CSI_BENEFIT_CHECK_DAYS"), "CSI_BENEFIT_CHECK_DAYS", 30
            ),
            stale_weeks=_integer(get("CSI_STALE_WEEKS"), "CSI_STALE_WEEKS", 6),
            allow_self_decision=_boolean(
                get("CSI_ALLOW_SELF_DECISION"), "CSI_ALLOW_SELF_DECISION", False
            ),
            ingest_token=get("CSI_INGEST_TOKEN"),
            similarity_method=method,
            warning_model=get("CSI_WARNING_MODEL") or None,
            similarity_embeddings=get("CSI_SIMILARITY_EMBEDDINGS") or None,
            similarity_index=get("CSI_SIMILARITY_INDEX") or None,
        )


def _vote_emoji(raw: str | None) -> str:
    name = emoji_name(raw or "+1")
    if not _EMOJI_NAME.fullmatch(name):
        raise SettingsError(
            f"CSI_VOTE_EMOJI={raw!r} is not an emoji name; give one like +1, thumbsup or "
            "white_check_mark (with or without the colons)."
        )
    return name


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _boolean(raw: str | None, name: str, default: bool) -> bool:
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a yes or no; give true or false (or 1/0, yes/no).")


def _integer(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} must be a whole number.") from exc
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be greater than zero.")
    return value
