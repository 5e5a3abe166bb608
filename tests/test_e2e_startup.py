"""Starting the bot: what an operator sees when the configuration is wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.botproc import bot_env, free_port, run_cli
from tests.fakeslack import FakeSlack

pytestmark = pytest.mark.e2e


def _bare_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CSI_"))}


def test_serve_without_configuration_names_each_missing_variable(tmp_path: Path) -> None:
    env = _bare_env() | {"DATABASE_URL": f"sqlite:///{tmp_path / 'csi.db'}"}
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "CSI_PROPOSALS_CHANNEL"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reads_dotenv_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_SIGNING_SECRET=s\n")
    env = _bare_env() | {"DATABASE_URL": f"sqlite:///{tmp_path / 'csi.db'}"}
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "CSI_PROPOSALS_CHANNEL" in result.stderr
    assert "SLACK_BOT_TOKEN" not in result.stderr


def test_serve_with_a_revoked_token_says_so(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        slack.set_response("auth.test", {"ok": False, "error": "invalid_auth"})
        env = bot_env(
            api_url=slack.api_url, database_url=f"sqlite:///{tmp_path / 'csi.db'}", port=free_port()
        )
        result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_cli_command_is_refused_with_usage(tmp_path: Path) -> None:
    result = run_cli("frobnicate", env=_bare_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_semantic_method_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the semantic extra is installed here")
    env = _bare_env() | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'csi.db'}",
        "CSI_SIMILARITY": "semantic",
    }
    result = run_cli("similar", "anything", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert 'pip install "csi-bot[semantic]"' in result.stderr
    assert "Traceback" not in result.stderr


def test_socket_mode_connects_with_the_app_token_and_explains_a_refusal(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        slack.set_response("apps.connections.open", {"ok": False, "error": "invalid_auth"})
        env = bot_env(
            api_url=slack.api_url,
            database_url=f"sqlite:///{tmp_path / 'csi.db'}",
            port=free_port(),
            SLACK_APP_TOKEN="xapp-1-test",
            SLACK_SIGNING_SECRET="",
        )
        result = run_cli("serve", env=env, cwd=tmp_path)
        opened = slack.calls("apps.connections.open")
    assert opened, "Socket Mode asks Slack for a websocket URL"
    assert opened[0].headers.get("Authorization") == "Bearer xapp-1-test"
    assert result.returncode == 2
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in result.stderr
    assert "Traceback" not in result.stderr
