"""How far the objectives got, on a large register: what `/improve objectives`, `/improve
objective <id>` and the Home tab read before they answer.

Generates 100 objectives (20 with an SLA target as KPI, 40 with a KPI in words, 40 without),
50,000 proposals spread over them in every status (a fifth of the verified ones with a measured
KPI result), 20 SLA targets and 201,600 measurements over the 28 days before the as-of date
(one every 4 minutes per target), then measures, median of a few runs:
- `progress` of all 100 objectives (`/improve objectives`, the digest's section); goal < 1 s,
  well inside Slack's 3 seconds for the answer; and the same with every verified step listed
  (`objective list --format json`);
- `one` objective (`/improve objective <id>`); goal < 0.5 s;
- the Home tab's content for a steering member (15 objectives with their progress).

    python tests/benchmarks/bench_objective_progress.py [--database-url URL] [--runs 5]

With --database-url every table of that database is dropped and recreated: use a scratch one.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: make `bot`, `storage` and `tests` importable

from bot import home, objective_progress  # noqa: E402
from storage import repositories as repo  # noqa: E402
from storage import sla_repository as sla_repo  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.models import Objective, Proposal  # noqa: E402
from tests.benchmarks.scratch import emptied  # noqa: E402

AS_OF = datetime(2026, 11, 23, 9, tzinfo=UTC)
OBJECTIVES = 100
PROPOSALS = 50_000
TARGETS = 20
DAYS = 28
EVERY = timedelta(minutes=4)
STATUSES = (
    ["open"] * 30
    + ["approved"] * 10
    + ["in_progress"] * 10
    + ["implemented"] * 5
    + ["verified"] * 10
    + ["rejected"] * 10
    + ["withdrawn"] * 5
    + ["deferred"] * 5
)
KPIS = ("Major incidents per month", "Lead time in days", "Tickets reopened", "Cost per seat")


def seed(engine: Any) -> None:
    rng = random.Random(15)
    start = AS_OF - timedelta(days=180)
    with session_scope(engine) as session:
        targets = []
        for n in range(TARGETS):
            service = sla_repo.ensure_service(session=session, name=f"Service {n:02d}")
            targets.append(
                sla_repo.add_target(
                    session=session,
                    service_id=service.id or 0,
                    metric="availability",
                    aggregate="mean",
                    comparator=">=",
                    target=99.9,
                    unit="%",
                )
            )
        rows: list[dict[str, Any]] = []
        for n in range(OBJECTIVES):
            row: dict[str, Any] = {"title": f"Objective {n:03d}", "weight": 1 + n % 5}
            if n < TARGETS:
                row |= {"kpi": f"Service {n:02d} availability", "kpi_sla_target_id": targets[n].id}
            elif n < 60:
                row |= {"kpi": KPIS[n % len(KPIS)]}
            if n < 60:
                row |= {
                    "kpi_baseline": 99.0 if n < TARGETS else 10.0,
                    "kpi_target": None if n < TARGETS else 4.0,
                    "kpi_target_date": date(2027, 6, 30),
                    "kpi_since": start,
                }
            rows.append({"description": "", "active": True, "created_at": start, **row})
        session.execute(insert(Objective), rows)
        ids = [o.id or 0 for o in repo.list_objectives(session=session)]
        proposals = []
        for n in range(PROPOSALS):
            status = rng.choice(STATUSES)
            objective = rng.choice(ids)
            measured = status == "verified" and n % 5 == 0
            proposals.append(
                {
                    "title": f"Proposal {n}",
                    "description": "",
                    "outcome": "",
                    "objective_id": objective,
                    "value": rng.randint(1, 5),
                    "effort": "M",
                    "effort_days": float(rng.choice((2, 5, 15, 40))),
                    "kpi": KPIS[(objective - 1) % len(KPIS)] if measured else None,
                    "kpi_baseline": 10.0 if measured else None,
                    "kpi_target": 6.0 if measured else None,
                    "kpi_actual": float(rng.randint(4, 9)) if measured else None,
                    "submitter": f"U{n % 500:05d}",
                    "status": status,
                    "created_at": start,
                    "updated_at": start + timedelta(minutes=n),
                }
            )
        for chunk in range(0, len(proposals), 5000):
            session.execute(insert(Proposal), proposals[chunk : chunk + 5000])
        first = AS_OF - timedelta(days=DAYS)
        steps = int(timedelta(days=DAYS) / EVERY)
        measurements = [
            (t.service_id, "availability", first + i * EVERY, 99.0 + rng.random())
            for t in targets
            for i in range(steps)
        ]
        for chunk in range(0, len(measurements), 20_000):
            sla_repo.insert_measurements(session=session, rows=measurements[chunk : chunk + 20_000])


def timed(work: Callable[[], object], runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-progress-")
    url = args.database_url or f"sqlite:///{os.path.join(folder, 'bench.db')}"
    engine = emptied(url)
    started = time.perf_counter()
    seed(engine)
    print(f"seeded in {time.perf_counter() - started:.1f} s ({engine.dialect.name})")

    def all_objectives() -> object:  # as `/improve objectives` reads them
        with session_scope(engine) as session:
            objectives = repo.list_objectives(session=session)
            return objective_progress.progress(
                session=session, objectives=objectives, now=AS_OF, with_verified=False
            )

    def all_json() -> object:  # as `csi-bot objective list --format json` reads them
        with session_scope(engine) as session:
            objectives = repo.list_objectives(session=session)
            return objective_progress.progress(session=session, objectives=objectives, now=AS_OF)

    def one_objective() -> object:
        with session_scope(engine) as session:
            objective = repo.get_objective(session=session, objective_id=1)
            assert objective is not None
            return objective_progress.one(session=session, objective=objective, now=AS_OF)

    def home_tab() -> object:
        with session_scope(engine) as session:
            return home.home_content(session=session, viewer="U00001", steering=True)

    every, found = timed(all_objectives, args.runs)
    assert isinstance(found, list)
    states: dict[str, int] = {}
    for p in found:
        if p.target is not None:
            states[p.target.state.value] = states.get(p.target.state.value, 0) + 1
    with_steps, _ = timed(all_json, args.runs)
    single, _ = timed(one_objective, args.runs)
    tab, _ = timed(home_tab, args.runs)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"progress of {len(found)} objectives: {every:.3f} s (goal < 1 s); states {states}")
    print(f"the same with every verified step (objective list --format json): {with_steps:.3f} s")
    print(f"one objective: {single:.3f} s (goal < 0.5 s)")
    print(f"Home tab content (steering): {tab:.3f} s")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
