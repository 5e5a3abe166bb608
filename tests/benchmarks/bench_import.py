"""Benchmark: `csi-bot import` of a large register file (100,000 rows by default).

A file shaped like the export (CSV, or JSON with --format json) is generated once: every
column the import reads, with refs, objectives by title, services, statuses, KPIs and times.
Each run imports it with the real command (`csi-bot import FILE`) into an empty database that
already holds the file's objectives, and times the command from start to exit. After the last
run the database is checked: as many proposals as rows, each with its "imported" history entry.

    python tests/benchmarks/bench_import.py [--rows 100000] [--runs 3] [--database-url URL]
    python tests/benchmarks/bench_import.py --write FILE   # only write the file

With a PostgreSQL URL, a fresh database is created on that server for each run and dropped
afterwards; without one, a temporary SQLite file is used. The median of the runs is reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: make `bot`, `storage` and `tests` importable

from bot.register_io.columns import EXPORT_FIELDS  # noqa: E402
from tests.benchmarks.bench_reactions import database  # noqa: E402
from tests.botproc import bot_env, csi_bot_command  # noqa: E402

GOAL_S = 10.0
OBJECTIVES = [
    "Faster incident response",
    "Fewer failed changes",
    "Lower cost of hosting",
    "Happier service desk callers",
]
SERVICES = ["Email", "VPN", "Payroll", "Service desk", "Wiki", "CI", "Backup", "Printing"]
WORDS = [
    "restart",
    "backup",
    "mail",
    "queue",
    "vpn",
    "login",
    "slow",
    "disk",
    "alert",
    "ticket",
    "change",
    "window",
    "patch",
    "monitor",
    "dashboard",
    "escalation",
    "runbook",
    "password",
    "reset",
    "onboarding",
    "laptop",
    "printer",
    "licence",
    "cost",
    "capacity",
    "storage",
    "latency",
    "outage",
    "report",
    "weekly",
    "manual",
    "step",
    "automate",
    "script",
    "handover",
]
STATUSES = ["open"] * 6 + ["approved", "in_progress", "implemented", "rejected"]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize()


def make_rows(count: int, seed: int = 13) -> list[dict[str, Any]]:
    """`count` export-shaped rows, distinct by ref; deterministic for a seed."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(count):
        created = start + timedelta(minutes=7 * n)
        kpi = rng.random() < 0.3
        rows.append(
            {
                "id": n + 1,
                "ref": f"CSI-{n + 1:06d}",
                "title": f"{sentence(rng, 6)} {n + 1}",
                "description": sentence(rng, 20),
                "outcome": sentence(rng, 12),
                "status": rng.choice(STATUSES),
                "merged_into": None,
                "objective": rng.choice(OBJECTIVES),
                "service": rng.choice(SERVICES),
                "benefit": rng.choice(["quality", "efficiency", "cost", "customer_satisfaction"]),
                "value": rng.randint(1, 5),
                "effort": rng.choice(["S", "M", "L", "XL", "3d"]),
                "effort_days": None,
                "kpi": "Mean time to restore (min)" if kpi else "",
                "kpi_baseline": rng.randint(30, 90) if kpi else None,
                "kpi_target": rng.randint(5, 29) if kpi else None,
                "kpi_actual": None,
                "submitter": f"U{rng.randint(1, 400):08d}",
                "owner": None,
                "votes": rng.randint(0, 9),
                "priority": round(rng.random() * 10, 2),
                "permalink": None,
                "created_at": created.isoformat(),
                "updated_at": created.isoformat(),
            }
        )
    return rows


def write_file(path: Path, rows: list[dict[str, Any]], fmt: str) -> None:
    """Write `rows` as the export would (CSV with CRLF, or a JSON array)."""
    if fmt == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*csi_bot_command(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900
    )


def one_run(file: Path, rows: int, url: str | None, workdir: Path) -> dict[str, Any]:
    with database(url, workdir) as db_url:
        if db_url.startswith("sqlite:///"):
            Path(db_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        env = bot_env(api_url="http://127.0.0.1:9/api/", database_url=db_url, port=9)
        for title in OBJECTIVES:
            done = run_cli(["objective", "add", title], env, workdir)
            if done.returncode:
                raise SystemExit(f"objective add failed:\n{done.stdout}{done.stderr}")
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = run_cli(["import", str(file)], env, workdir)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (used.ru_utime + used.ru_stime)
        if done.returncode:
            raise SystemExit(f"import failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        problems = check(db_url, rows)
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "load": os.getloadavg()[0],
        "problems": problems,
        "last_line": done.stdout.strip()[-200:],
    }


def check(url: str, rows: int) -> list[str]:
    """As many proposals as rows, each with one 'imported' history entry."""
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM proposals")).scalar_one()
            audited = connection.execute(
                text("SELECT count(*) FROM audit_entries WHERE action = 'imported'")
            ).scalar_one()
    finally:
        engine.dispose()
    problems = []
    if stored != rows:
        problems.append(f"{stored} proposals stored, {rows} rows in the file")
    if audited != rows:
        problems.append(f"{audited} 'imported' history entries, {rows} rows in the file")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server's URL (default: SQLite)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="report the median of these runs")
    parser.add_argument("--format", choices=["csv", "json"], default="csv")
    parser.add_argument("--write", type=Path, help="only write the generated file here")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)

    rows = make_rows(args.rows)
    if args.write:
        write_file(args.write, rows, args.format)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        workdir = Path(tmp)
        file = workdir / f"register.{args.format}"
        write_file(file, rows, args.format)
        runs = [one_run(file, args.rows, args.database_url, workdir) for _ in range(args.runs)]
    seconds = [run["seconds"] for run in runs]
    cpu = [run["cpu_s"] for run in runs]
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "database": "postgresql" if args.database_url else "sqlite",
        "rows": args.rows,
        "format": args.format,
        "runs_s": [round(s, 2) for s in seconds],
        "median_s": round(statistics.median(seconds), 2),
        "rows_per_s": round(args.rows / statistics.median(seconds)),
        # CPU time of the command itself (not the PostgreSQL server's): what a busy machine's
        # other work does not inflate.
        "cpu_s": [round(c, 2) for c in cpu],
        "median_cpu_s": round(statistics.median(cpu), 2),
        "load_average": [round(run["load"], 1) for run in runs],
        "problems": [p for run in runs for p in run["problems"]],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['machine']}; {summary['database']}; {args.rows:,} rows ({args.format})")
        print(
            f"import: median {summary['median_s']} s of {args.runs} run(s) {summary['runs_s']}; "
            f"{summary['rows_per_s']:,} rows/s; goal < {GOAL_S:g} s"
        )
        print(
            f"CPU time of the command: median {summary['median_cpu_s']} s {summary['cpu_s']}; "
            f"1-minute load average after each run {summary['load_average']}"
        )
        print(f"last line: {runs[-1]['last_line']}")
    for problem in summary["problems"]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if summary["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
