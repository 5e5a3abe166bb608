"""`csi-bot sla target`, `sla import` and `digest` as an operator runs them, on both databases."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import alembic_config, make_engine
from tests.botproc import run_cli

HEADER = "service,metric,timestamp,value\n"


@pytest.fixture
def cli(database_url: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CSI_"))}
    env |= {"DATABASE_URL": database_url, "CSI_TIMEZONE": "UTC"}

    def run(*args: str):
        return run_cli(*args, env=env, cwd=tmp_path)

    return run


def _count_measurements(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM measurements")).scalar_one())
    finally:
        engine.dispose()


def test_targets_are_added_listed_and_removed(cli) -> None:
    added = cli(
        "sla", "target", "add", "--service", "Email", "--metric", "availability",
        "--aggregate", "mean", "--comparator", ">=", "--target", "99.9", "--unit", "%",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "Added target 1: Email availability: mean >= 99.9 %"

    again = cli(
        "sla", "target", "add", "--service", "email", "--metric", "availability",
        "--aggregate", "mean", "--comparator", ">=", "--target", "99",
    )  # fmt: skip
    assert again.returncode == 1
    assert "already has the target 1" in again.stderr

    listed = cli("sla", "target", "list")
    assert listed.stdout.splitlines() == ["1\tEmail availability: mean >= 99.9 %"]

    assert cli("sla", "target", "remove", "1").returncode == 0
    missing = cli("sla", "target", "remove", "1")
    assert missing.returncode == 1
    assert "There is no target 1" in missing.stderr
    assert "No targets yet" in cli("sla", "target", "list").stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--aggregate", "avg", "--comparator", ">=", "--target", "1"),
        ("--aggregate", "mean", "--comparator", "=", "--target", "1"),
        ("--aggregate", "mean", "--comparator", ">=", "--target", "nan"),
    ],
)
def test_a_bad_target_is_a_usage_error(cli, args: tuple[str, ...]) -> None:
    result = cli("sla", "target", "add", "--service", "Email", "--metric", "m", *args)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr or "finite number" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_csv_stores_nothing_and_names_every_bad_line(
    cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + "Email,availability,2026-11-16T00:00:00Z,99.9\n"
        + "Email,availability,2026-11-16T01:00:00,99.9\n"  # no zone
        + "Email,availability,2026-11-16T02:00:00Z,inf\n"
        + "Email,availability,2026-11-16T03:00:00Z\n"
        + ",availability,2026-11-16T04:00:00Z,1\n"
    )

    result = cli("sla", "import", str(path))

    assert result.returncode == 1
    assert "nothing was stored" in result.stderr
    assert "line 3: the timestamp '2026-11-16T01:00:00' has no time zone" in result.stderr
    assert "line 4: the value must be a finite number" in result.stderr
    assert "line 5: expected 4 columns, found 3" in result.stderr
    assert "line 6: the service is missing" in result.stderr
    assert "line 2" not in result.stderr
    assert _count_measurements(database_url) == 0


def test_the_same_measurement_is_stored_once_across_imports(
    cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        HEADER
        + "Email,availability,2026-11-16T00:00:00Z,99.9\n"
        + "Email,availability,2026-11-16T01:00:00+01:00,99.8\n"  # the same moment, again
        + "Email,latency,2026-11-16T00:00:00Z,120\n"
    )

    first = cli("sla", "import", str(path))
    second = cli("sla", "import", str(path))

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Stored 2 measurements")
    assert "1 duplicate skipped" in first.stdout
    assert second.stdout.startswith("Stored 0 measurements")
    assert _count_measurements(database_url) == 2


def test_digest_prints_the_contract_json_and_readable_text(cli, tmp_path: Path) -> None:
    assert "No SLA targets are defined" in cli("digest", "--as-of", "2026-11-23").stdout
    cli(
        "sla", "target", "add", "--service", "Email", "--metric", "availability",
        "--aggregate", "mean", "--comparator", ">=", "--target", "99.9", "--unit", "%",
    )  # fmt: skip
    empty = cli("digest", "--as-of", "2026-11-23")
    assert "No measurements arrived" in empty.stdout
    path = tmp_path / "m.csv"
    rows = [f"Email,availability,2026-11-{day}T12:00:00Z,99.0\n" for day in range(16, 23)]
    path.write_text(HEADER + "".join(rows))
    assert cli("sla", "import", str(path)).returncode == 0

    printed = cli("digest", "--as-of", "2026-11-23", "--format", "json")
    text_out = cli("digest", "--as-of", "2026-11-23")

    document = json.loads(printed.stdout)
    assert document["period"]["start"] == "2026-11-16T00:00:00+00:00"
    assert document["period"]["end"] == "2026-11-23T00:00:00+00:00"
    (target,) = document["targets"]
    assert target["actual"] == pytest.approx(99.0)
    assert target["breached"] is True and target["previous"] is None
    assert [t["id"] for t in document["unaddressed"]] == [target["id"]]
    assert "Breaches no open proposal addresses:" in text_out.stdout
    assert "Email availability: 99 % against mean >= 99.9 %, BREACHED, 7 samples" in text_out.stdout


def test_a_bad_as_of_date_is_a_usage_error(cli) -> None:
    result = cli("digest", "--as-of", "next monday")
    assert result.returncode == 2
    assert "must be a date like 2026-11-23" in result.stderr


def test_migration_turns_free_text_services_into_service_rows(database_url: str) -> None:
    from alembic import command

    engine = make_engine(database_url)
    try:
        config = alembic_config(engine)
        command.upgrade(config, "0005")
        with engine.begin() as connection:
            for title, service in (("a", "Email"), ("b", " email "), ("c", "VPN"), ("d", None)):
                connection.execute(
                    text(
                        "INSERT INTO proposals (title, description, outcome, submitter, status, "
                        "service, created_at, updated_at) VALUES (:t, '', '', 'U1', 'open', :s, "
                        "'2026-01-01', '2026-01-01')"
                    ),
                    {"t": title, "s": service},
                )
        command.upgrade(config, "head")
        with engine.connect() as connection:
            services = connection.execute(text("SELECT name FROM services ORDER BY name")).scalars()
            assert list(services) == ["Email", "VPN"]
            links = connection.execute(
                text(
                    "SELECT p.title, s.name FROM proposals p LEFT JOIN services s "
                    "ON s.id = p.service_id ORDER BY p.title"
                )
            ).all()
            assert [tuple(row) for row in links] == [
                ("a", "Email"), ("b", "Email"), ("c", "VPN"), ("d", None),
            ]  # fmt: skip
    finally:
        engine.dispose()
