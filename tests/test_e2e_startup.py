"""Starting the bot: what an operator sees when the configuration is wrong."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.botproc import BotProcess, bot_env, free_port, run_cli
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


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The single `csi-bot:` line a failed start-up printed; asserts there is no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("csi-bot:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _serve(tmp_path: Path, database_url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    with FakeSlack() as slack:
        env = bot_env(api_url=slack.api_url, database_url=database_url, port=free_port())
        return run_cli("serve", env=env | extra, cwd=tmp_path)


def test_a_port_in_use_is_one_line_and_nothing_else_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        database = tmp_path / "csi.db"
        result = _serve(tmp_path, f"sqlite:///{database}", PORT=port)
    line = _one_line_failure(result)
    assert f"PORT={port} is already in use" in line
    assert not database.exists(), "the port is checked before the database is touched"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://csi@127.0.0.1/csi", "is not a database csi-bot can use"),
        ("garbage", "is not a database csi-bot can use"),
        ("http://example.com/db", "is not a database csi-bot can use"),
        ("sqlite:///{tmp}/no/such/folder/csi.db", "no/such/folder does not exist"),
        ("postgresql://postgres@127.0.0.1:1/csi", "Connection refused"),
    ],
    ids=["mysql-without-driver", "garbage", "http", "sqlite-folder-missing", "postgres-down"],
)
def test_an_unusable_database_url_is_one_line(tmp_path: Path, url: str, expected: str) -> None:
    result = _serve(tmp_path, url.format(tmp=tmp_path))
    line = _one_line_failure(result)
    assert expected in line, line
    assert "DATABASE_URL" in line or "database" in line


@pytest.mark.postgres
def test_a_postgres_database_that_does_not_exist_is_one_line(
    tmp_path: Path, postgres_server: str
) -> None:
    base, _, _ = postgres_server.rpartition("/")
    result = _serve(tmp_path, f"{base}/csi_no_such_database")
    line = _one_line_failure(result)
    assert 'database "csi_no_such_database" does not exist' in line


@pytest.mark.postgres
def test_a_database_password_is_never_printed(tmp_path: Path) -> None:
    result = _serve(tmp_path, "postgresql://csi:s3cret-pw@127.0.0.1:1/csi")
    line = _one_line_failure(result)
    assert "s3cret-pw" not in result.stderr
    assert "***" in line


def test_a_slack_api_url_that_answers_404_says_the_url_is_wrong(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        env = bot_env(
            api_url=slack.base_url + "/not-the-api/",
            database_url=f"sqlite:///{tmp_path / 'csi.db'}",
            port=free_port(),
        )
        result = run_cli("serve", env=env, cwd=tmp_path)
    line = _one_line_failure(result)
    assert "SLACK_API_URL" in line and "is not the Slack Web API" in line and "404" in line
    assert "reinstall" not in line and "SLACK_BOT_TOKEN" not in line


def test_bolt_does_not_warn_that_the_token_is_unused_at_start(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url,
            database_url=f"sqlite:///{tmp_path / 'csi.db'}",
            port=free_port(),
        )
        with BotProcess(env, tmp_path) as bot:
            log = bot.log()
    assert "csi-bot listening on port" in log
    assert "will be unused" not in log


def test_what_start_up_made_is_kept_out_of_the_garbage_collectors_passes(tmp_path: Path) -> None:
    # A full pass of the collector holds every request while it walks what it tracks; the
    # modules, the app and its listeners live as long as the process, so they are set aside.
    with FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url,
            database_url=f"sqlite:///{tmp_path / 'csi.db'}",
            port=free_port(),
        )
        with BotProcess(env, tmp_path) as bot:
            log = bot.log()
    found = re.search(r"(\d+) objects made at start-up set aside from the garbage collector", log)
    assert found, log
    assert int(found.group(1)) > 50_000
