"""The SLA digest at scale: 1,000,000 measurements over 200 targets.

Generates 200 targets (50 services x 4 metrics, every aggregate and comparator) and 1,000,000
measurements over the 28 days before the as-of date (bulk insert), then measures:
- `evaluate` (the digest's evaluation in the database), a few runs, median; goal < 2 s;
- `csi-bot sla import` of a 1,000,000-row CSV, as an operator runs it (the process, the
  migration check, the parse and the store), a few runs, median; goal < 60 s;
- `POST /api/measurements` through the running bot (`csi-bot serve` against a fake Slack):
  batches of 1,000 measurements sent one after the other, measurements per second.

    python tests/benchmarks/bench_digest.py [DATA_DIR] [--database-url URL] [--runs 5]
        [--import-runs 3] [--batches 50] [--skip-import] [--skip-endpoint]

DATA_DIR receives the generated CSV files (default: a temporary folder). With --database-url
every table of that database is dropped and recreated: use a scratch one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: make `bot`, `storage` and `tests` importable

from bot.sla.evaluation import evaluate  # noqa: E402
from storage import sla_repository as sla_repo  # noqa: E402
from storage.db import make_engine, session_scope  # noqa: E402
from tests.benchmarks.scratch import emptied  # noqa: E402
from tests.botproc import BotProcess, bot_env, csi_bot_command, free_port  # noqa: E402
from tests.fakeslack import FakeSlack  # noqa: E402

AS_OF = datetime(2026, 11, 23, tzinfo=UTC)
SERVICES = 50
METRICS = (
    ("response_ms", "ms"),
    ("availability", "%"),
    ("errors", None),
    ("throughput", "req/s"),
)
AGGREGATES = ("mean", "min", "max", "p95", "sum", "count")
COMPARATORS = (">=", "<=", ">", "<")
DAYS = 28
TOKEN = "bench-ingest-token"


def targets() -> list[tuple[str, str, str, str, float, str | None]]:
    """(service, metric, aggregate, comparator, target, unit) of the 200 targets."""
    found = []
    for n in range(SERVICES * len(METRICS)):
        service = f"Service {n // len(METRICS):03d}"
        metric, unit = METRICS[n % len(METRICS)]
        aggregate = AGGREGATES[n % len(AGGREGATES)]
        comparator = COMPARATORS[(n // 3) % len(COMPARATORS)]
        # Around the typical value, so some targets are met and some breached.
        goal = {"count": 1250.0, "sum": 125_000.0}.get(aggregate, 100.0 + (n % 7) * 5)
        found.append((service, metric, aggregate, comparator, goal, unit))
    return found


def value(rng: random.Random) -> float:
    return round(rng.gauss(100.0, 20.0), 3)


def seed_database(url: str, total: int) -> tuple[float, int]:
    """Targets and `total` measurements over the 28 days before AS_OF; (seconds, rows)."""
    engine = emptied(url)
    rng = random.Random(9)
    per_target = total // (SERVICES * len(METRICS))
    step = timedelta(days=DAYS) / per_target
    started = time.perf_counter()
    with session_scope(engine) as session:
        keys: list[tuple[int, str]] = []
        for service, metric, aggregate, comparator, goal, unit in targets():
            row = sla_repo.ensure_service(session=session, name=service)
            assert row.id is not None
            sla_repo.add_target(
                session=session,
                service_id=row.id,
                metric=metric,
                aggregate=aggregate,
                comparator=comparator,
                target=goal,
                unit=unit,
            )
            keys.append((row.id, metric))
    stored = 0
    chunk: list[sla_repo.MeasurementRow] = []
    for service_id, metric in keys:
        for i in range(per_target):
            chunk.append((service_id, metric, AS_OF - step * (i + 1), value(rng)))
        if len(chunk) >= 100_000:
            with session_scope(engine) as session:
                stored += sla_repo.insert_measurements(session=session, rows=chunk)
            chunk = []
    if chunk:
        with session_scope(engine) as session:
            stored += sla_repo.insert_measurements(session=session, rows=chunk)
    seconds = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return seconds, stored


def time_evaluate(url: str, runs: int) -> dict[str, object]:
    engine = make_engine(url)
    times = []
    digest = None
    for _ in range(runs):
        with session_scope(engine) as session:
            started = time.perf_counter()
            digest = evaluate(session=session, as_of=AS_OF, timezone="UTC")
            times.append(time.perf_counter() - started)
    engine.dispose()
    assert digest is not None
    return {
        "runs_s": [round(t, 3) for t in times],
        "median_s": round(statistics.median(times), 3),
        "targets": len(digest.targets),
        "breached": sum(1 for r in digest.targets if r.breached),
        "samples_in_period": digest.measurements,
    }


def write_csv(folder: Path, run: int, rows: int) -> Path:
    """A CSV of `rows` new measurements, in a window of its own (older than the seeded ones)."""
    path = folder / f"measurements-{run}.csv"
    rng = random.Random(100 + run)
    pairs = [(service, metric) for service, metric, *_ in targets()]
    per_pair = rows // len(pairs)
    window_end = AS_OF - timedelta(days=DAYS * (run + 1))
    step = timedelta(days=DAYS) / per_pair
    with path.open("w", encoding="utf-8") as out:
        out.write("service,metric,timestamp,value\n")
        for service, metric in pairs:
            for i in range(per_pair):
                at = (window_end - step * (i + 1)).isoformat()
                out.write(f"{service},{metric},{at},{value(rng)}\n")
    return path


def time_import(url: str, folder: Path, runs: int, rows: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CSI_"))}
    env["DATABASE_URL"] = url
    times = []
    outputs = []
    for run in range(runs):
        path = write_csv(folder, run, rows)
        started = time.perf_counter()
        done = subprocess.run(
            [*csi_bot_command(), "sla", "import", str(path)],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"sla import failed:\n{done.stderr[-2000:]}")
        outputs.append(done.stdout.strip())
        path.unlink()
    return {
        "rows": rows,
        "runs_s": [round(t, 2) for t in times],
        "median_s": round(statistics.median(times), 2),
        "output": outputs[-1],
    }


def time_endpoint(url: str, folder: Path, batches: int, runs: int) -> dict[str, object]:
    pairs = [(service, metric) for service, metric, *_ in targets()]
    rng = random.Random(7)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    rates = []
    with FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url, database_url=url, port=free_port(), CSI_INGEST_TOKEN=TOKEN
        )
        with BotProcess(env, folder) as bot:
            for run in range(runs):
                # A window of its own after AS_OF, one second apart: nothing is a duplicate.
                base = AS_OF + timedelta(days=1 + run * 30)
                bodies = []
                for b in range(batches):
                    items = []
                    for i in range(1000):
                        service, metric = pairs[i % len(pairs)]
                        at = base + timedelta(seconds=b * 1000 + i)
                        items.append(
                            {
                                "service": service,
                                "metric": metric,
                                "timestamp": at.isoformat(),
                                "value": value(rng),
                            }
                        )
                    bodies.append(json.dumps({"measurements": items}).encode())
                started = time.perf_counter()
                stored = 0
                for body in bodies:
                    request = urllib.request.Request(
                        f"{bot.url}/api/measurements",
                        data=body,
                        headers={
                            "Authorization": f"Bearer {TOKEN}",
                            "Content-Type": "application/json",
                        },
                        method="POST",
                    )
                    try:
                        with opener.open(request, timeout=60) as answer:
                            stored += json.loads(answer.read())["stored"]
                    except urllib.error.HTTPError as exc:
                        raise SystemExit(
                            f"POST /api/measurements answered {exc.code}: {exc.read()[:300]!r}"
                        ) from exc
                elapsed = time.perf_counter() - started
                assert stored == batches * 1000, stored
                rates.append(stored / elapsed)
    return {
        "batch": 1000,
        "batches_per_run": batches,
        "runs_per_s": [round(r) for r in rates],
        "median_per_s": round(statistics.median(rates)),
    }


def machine(url: str) -> dict[str, object]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    engine = make_engine(url)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            version = connection.execute(text("SHOW server_version")).scalar()
        else:
            version = connection.execute(text("select sqlite_version()")).scalar()
    engine.dispose()
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "database": f"{engine.dialect.name} {version}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("data_dir", type=Path, nargs="?")
    parser.add_argument("--database-url")
    parser.add_argument("--measurements", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--import-runs", type=int, default=3)
    parser.add_argument("--endpoint-runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-endpoint", action="store_true")
    args = parser.parse_args()

    folder = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-digest-"))
    folder.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{folder / 'digest.db'}"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    report: dict[str, object] = {"machine": machine(url)}
    seconds, stored = seed_database(url, args.measurements)
    report["seed"] = {"measurements": stored, "targets": 200, "bulk_insert_s": round(seconds, 1)}
    print(json.dumps(report, indent=2), flush=True)
    report["evaluate"] = time_evaluate(url, args.runs)
    print(json.dumps({"evaluate": report["evaluate"]}, indent=2), flush=True)
    if not args.skip_import:
        report["sla_import"] = time_import(url, folder, args.import_runs, args.measurements)
        print(json.dumps({"sla_import": report["sla_import"]}, indent=2), flush=True)
    if not args.skip_endpoint:
        report["endpoint"] = time_endpoint(url, folder, args.batches, args.endpoint_runs)
        print(json.dumps({"endpoint": report["endpoint"]}, indent=2), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
