"""Similar proposals through the bot's own path: database -> index -> matches.

Fills a register (SQLite file or PostgreSQL) with N proposals from the similarity data folder,
then measures the cold start of the index (read every proposal in batches, build), the query
latency of `SimilarProposals.similar` including its database round trips (fetching the matches;
the index is refreshed in the background, never by a question) on a register that grew over
time, the refresh that takes in a bulk import of 1,000 proposals and the questions right after
it, and the cost of seeing one new proposal (a refresh, then a question).

    python tests/benchmarks/bench_register_similar.py DATA_DIR [--size 100000]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--queries 300]

With --database-url the tables of that database are dropped and recreated: use a scratch one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: make `bot`, `storage` and `tests` importable

from bot import proposals  # noqa: E402
from bot.similar_proposals import SimilarProposals  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.models import Proposal  # noqa: E402
from storage.types import utcnow  # noqa: E402
from tests.benchmarks.scratch import emptied  # noqa: E402

BULK = 1000


def load_texts(data_dir: Path, size: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The stored texts (reports, then padding) and the duplicate queries."""
    docs = [json.loads(line) for line in (data_dir / "dev" / "docs.jsonl").open()]
    by_id = {d["id"]: d for d in docs}
    queries = [by_id[q.strip()] for q in (data_dir / "dev" / "queries.txt").open() if q.strip()]
    stored = list(docs)
    with (data_dir / "padding.jsonl").open() as padding:
        for line in padding:
            if len(stored) >= size:
                break
            stored.append(json.loads(line))
    return stored, queries


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--database-url")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    stored, queries = load_texts(args.data_dir, args.size)
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'register.db'}"
    engine = emptied(url)
    with session_scope(engine) as session:
        objective = proposals.add_objective(session=session, title="Benchmark")
    # A register that grew over time: its rows were last changed before the look-back window.
    then = utcnow() - timedelta(days=1)

    def row(text: dict[str, str], stamped: datetime) -> dict[str, object]:
        return {
            "title": text["title"][:150],
            "description": text.get("description") or "",
            "outcome": "",
            "objective_id": objective.id,
            "submitter": "U0BENCH",
            "status": "open",
            "created_at": stamped,
            "updated_at": stamped,
        }

    rows = [row(d, then) for d in stored[:-BULK]]
    started = time.perf_counter()
    with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(Proposal), rows[start : start + 5000])
    print(
        f"register filled: {len(rows)} proposals in {time.perf_counter() - started:.1f} s "
        f"({engine.dialect.name})"
    )

    index = SimilarProposals()
    started = time.perf_counter()
    with session_scope(engine) as session:
        index.refresh(session=session)
    print(f"cold start (read all + build): {time.perf_counter() - started:.1f} s")

    def run_queries(label: str, count: int) -> None:
        timings = []
        for query in queries[:count]:
            started = time.perf_counter()
            with session_scope(engine) as session:
                index.similar(
                    session=session,
                    title=query["title"],
                    description=query.get("description") or "",
                )
            timings.append((time.perf_counter() - started) * 1000)
        print(
            f"{label}, {len(timings)} queries: p50 {statistics.median(timings):.1f} ms"
            f"  p99 {percentile(timings, 0.99):.1f} ms"
        )

    run_queries("query incl. database", args.queries)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(insert(Proposal), [row(d, now) for d in stored[-BULK:]])
    started = time.perf_counter()
    with session_scope(engine) as session:
        index.refresh(session=session)
    print(f"refresh taking in a bulk import of {BULK}: {time.perf_counter() - started:.2f} s")
    run_queries(f"query right after a bulk import of {BULK}", 50)
    started = time.perf_counter()
    with session_scope(engine) as session:
        index.refresh(session=session)
    print(
        f"refresh with nothing new (import in the look-back window): "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )

    started = time.perf_counter()
    with session_scope(engine) as session:
        proposal = Proposal(
            title="Brand new proposal about printer queues",
            submitter="U0NEW",
            status="open",
            objective_id=objective.id,
        )
        session.add(proposal)
    with session_scope(engine) as session:
        index.refresh(session=session)
        found = index.similar(session=session, title="printer queues brand new")
    print(
        f"new proposal seen by the next query: {time.perf_counter() - started:.3f} s, "
        f"found={bool(found and found[0].proposal.id == proposal.id)}"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
