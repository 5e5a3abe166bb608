"""The command line's general behaviour: version, standard input, usage errors, documentation."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from bot.cli import _parser
from tests.botproc import run_cli

README = Path(__file__).resolve().parents[1] / "README.md"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CSI_"))}
    return env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'csi.db'}"}


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    result = run_cli("--version", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"csi-bot {metadata.version('csi-bot')}"


def test_similar_batch_dash_reads_standard_input(tmp_path: Path) -> None:
    queries = [{"title": "Automate certificate renewal"}, {"title": "Patch faster"}]
    result = run_cli(
        "similar",
        "--batch",
        "-",
        env=_env(tmp_path),
        cwd=tmp_path,
        input="\n".join(json.dumps(q) for q in queries) + "\n",
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["title"] for a in answers] == [q["title"] for q in queries]
    assert all(a["matches"] == [] for a in answers)


@pytest.mark.parametrize(
    "args",
    [
        ["similar"],
        ["similar", "text", "--batch", "-"],
        ["similar", "x", "--limit", "0"],
        ["similar", "x", "--limit", "many"],
        ["similar", "x", "--threshold", "nan"],
        ["similar", "x", "--threshold", "-1"],
        ["objective", "add"],
        ["objective", "add", "T", "--colour", "red"],
        ["--no-such-option"],
        [],
    ],
    ids=lambda args: " ".join(args) or "nothing",
)
def test_every_usage_error_exits_2_with_a_hint(tmp_path: Path, args: list[str]) -> None:
    result = run_cli(*args, env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "usage:" in result.stderr or "--help" in result.stderr
    assert not (tmp_path / "csi.db").exists(), "a usage error touches no database"


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def _documented_options() -> list[tuple[str, str]]:
    found = []
    for path, parser in _commands(_parser()):
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    found.append((" ".join(("csi-bot", *path)), option))
    return found


def test_the_readme_documents_every_command_and_option() -> None:
    readme = README.read_text(encoding="utf-8")
    missing_commands = [
        " ".join(("csi-bot", *path))
        for path, parser in _commands(_parser())
        if path
        and not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        and f"csi-bot {' '.join(path)}" not in readme
    ]
    missing_options = [
        f"{command} {option}" for command, option in _documented_options() if option not in readme
    ]
    assert missing_commands == []
    assert missing_options == []
    # The similar command's and objective add's options are described, not only named.
    assert "`--threshold" in readme and "`--description" in readme
