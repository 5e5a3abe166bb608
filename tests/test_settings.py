"""Settings: every variable read, defaults as documented, missing values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError


def test_defaults_follow_the_documented_table() -> None:
    settings = Settings.from_mapping({"CSI_PROPOSALS_CHANNEL": "C1"})
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url == "sqlite:///./csi.db"
    assert settings.port == 3000
    assert settings.digest_channel == "C1"
    assert settings.steering_channel == "C1"
    assert settings.vote_emoji == "+1"
    assert settings.digest_cron == "0 9 * * MON"
    assert settings.poll_cron == "0 10 1 * *"
    assert settings.poll_days == 7
    assert settings.benefit_check_days == 30
    assert settings.stale_weeks == 6
    assert settings.allow_self_decision is False
    assert settings.ingest_token is None
    assert not settings.socket_mode


def test_every_variable_is_read() -> None:
    settings = Settings.from_mapping(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_API_URL": "http://127.0.0.1:9/api",
            "DATABASE_URL": "postgresql://x/y",
            "PORT": "8080",
            "CSI_PROPOSALS_CHANNEL": "C1",
            "CSI_DIGEST_CHANNEL": "C2",
            "CSI_STEERING_CHANNEL": "C3",
            "CSI_STEERING_MEMBERS": "U1, U2,,",
            "CSI_STEERING_USERGROUP": "S1",
            "CSI_VOTE_EMOJI": ":thumbsup:",
            "CSI_TIMEZONE": "Europe/Berlin",
            "CSI_DIGEST_CRON": "0 8 * * FRI",
            "CSI_POLL_CRON": "0 9 * * *",
            "CSI_POLL_DAYS": "3",
            "CSI_BENEFIT_CHECK_DAYS": "14",
            "CSI_INGEST_TOKEN": "t",
        }
    )
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.port == 8080
    assert settings.steering_members == frozenset({"U1", "U2"})
    assert settings.vote_emoji == "thumbsup"
    assert settings.socket_mode
    assert (settings.digest_channel, settings.steering_channel) == ("C2", "C3")
    assert settings.poll_days == 3 and settings.ingest_token == "t"
    assert settings.benefit_check_days == 14


def test_missing_values_are_named_with_where_to_find_them() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({}).require_for_serve()
    message = str(caught.value)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "CSI_PROPOSALS_CHANNEL"):
        assert name in message
    assert "OAuth & Permissions" in message


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = Settings.from_mapping(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "CSI_PROPOSALS_CHANNEL": "C1"}
    )
    settings.require_for_serve()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("CSI_POLL_DAYS", "0"),
        ("CSI_BENEFIT_CHECK_DAYS", "-3"),
        ("CSI_BENEFIT_CHECK_DAYS", "a month"),
        ("CSI_TIMEZONE", "Mars/Olympus"),
        ("CSI_ALLOW_SELF_DECISION", "maybe"),
        ("CSI_ALLOW_SELF_DECISION", "on"),
    ],
)
def test_bad_values_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_mapping({name: value})


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("0", False),
        ("No", False),
        ("", False),
    ],
)
def test_self_decision_is_read_strictly(value: str, allowed: bool) -> None:
    settings = Settings.from_mapping({"CSI_ALLOW_SELF_DECISION": value})
    assert settings.allow_self_decision is allowed


def test_wrong_kind_of_token_is_refused() -> None:
    settings = Settings.from_mapping(
        {"SLACK_BOT_TOKEN": "xoxp-user", "SLACK_SIGNING_SECRET": "s", "CSI_PROPOSALS_CHANNEL": "C1"}
    )
    with pytest.raises(SettingsError, match="xoxb-"):
        settings.require_for_serve()


def test_dotenv_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CSI_PROPOSALS_CHANNEL=CFILE\nPORT=4000\n")
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.delenv("CSI_PROPOSALS_CHANNEL", raising=False)
    settings = Settings.load(env_file)
    assert settings.proposals_channel == "CFILE"
    assert settings.port == 5000
