"""Benchmark: how fast emoji votes (reaction events) are acked, ours vs. bare Bolt.

Two servers run as subprocesses against their own FakeSlack, each served the same way
(waitress with 8 threads):

  (a) bare: a Bolt app that only acks reaction_added / reaction_removed (defined below);
  (b) ours: the real bot, `csi-bot serve`, on a register seeded with proposals whose cards
      are in the proposals channel.

Before them, each server gets a warmup that is not measured (`warmup_events`). Then the same
events go to both: `--events` reaction events (1,000 by default) on `--cards` cards,
of which a third are Slack's retries of an earlier event (same event_id, X-Slack-Retry-Num),
sent by 8 concurrent senders. The events are cut into rounds; each round is sent to one target
and then to the other, the order flipped every round, so neither always goes first. For each
target: the throughput (events per second of sending time), ack latency percentiles, the
slowest ack, the server's CPU time per event (Linux), and for ours that every card's vote
count in the database and on the card (the last chat.update) is exactly the number of people
who reacted.

    python tests/benchmarks/bench_reactions.py [--database-url URL] [--runs 3] [--json]

With a PostgreSQL URL, a fresh database is created on that server for each run and dropped
afterwards; without one, a temporary SQLite file is used.
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
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: make `bot`, `storage` and `tests` importable

from tests.benchmarks.bench_modal_open import (  # noqa: E402
    SECRET,
    TOKEN,
    bot_executable,
    free_port,
    percentiles,
)
from tests.fakeslack import FakeSlack, SlackDriver  # noqa: E402

CHANNEL = "C0PROPOSALS"
SENDERS = 8
SLACK_ACK_LIMIT_MS = 3000.0


# ---- (a) the bare Bolt app, run in a subprocess with --serve-bare ----------------------
def serve_bare() -> None:
    """Serve a Bolt app that only acks reaction events, with waitress like the bot."""
    import waitress
    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=client,
        token_verification_enabled=False,
    )

    @app.event("reaction_added")
    def added() -> None:
        pass

    @app.event("reaction_removed")
    def removed() -> None:
        pass

    slack_handler = SlackRequestHandler(app)

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return slack_handler(environ, start_response)

    waitress.serve(wsgi, host="127.0.0.1", port=int(os.environ["PORT"]), threads=8, _quiet=True)


# ---- the events ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Reaction:
    event_id: str
    user: str
    ts: str
    retry_num: int | None = None


def card_ts(n: int) -> str:
    return f"1700000000.{n + 1:06d}"


def make_events(total: int, cards: int, seed: int) -> list[Reaction]:
    """`total` reaction_added events: two thirds first deliveries by distinct people (spread
    over the cards), one third retries of a first delivery sent a little earlier."""
    rng = random.Random(seed)
    firsts = total - total // 3
    events: list[Reaction] = [
        Reaction(f"EvB{n:07d}", f"U{n:08d}", card_ts(n % cards)) for n in range(firsts)
    ]
    for _ in range(total - firsts):
        # A retry of an event from up to ~50 positions before where it is put: it may still be
        # in flight, as when Slack retries a slow ack.
        original = events[rng.randrange(len(events))]
        retry = Reaction(original.event_id, original.user, original.ts, retry_num=1)
        events.insert(min(len(events), events.index(original) + rng.randint(1, 50)), retry)
    return events


def warmup_events(cards: int) -> list[Reaction]:
    """What each server gets before the measured rounds: reactions on a message that is no card
    (just acks), and a few votes on every card, counted with the rest, so that what a server
    does once in its life (its connections, its first statements, the first drawing of a card)
    is not measured as the throughput of a storm."""
    nowhere = [Reaction(f"EvW{n:06d}", f"UW{n:07d}", "1600000000.000001") for n in range(40)]
    on_cards = [
        Reaction(f"EvWC{n:06d}", f"UWC{n:06d}", card_ts(n % cards)) for n in range(4 * cards)
    ]
    return nowhere + on_cards


# ---- harness ------------------------------------------------------------------------------
@dataclass
class Target:
    name: str
    driver: SlackDriver
    slack: FakeSlack
    pid: int
    ack_ms: list[float] = field(default_factory=list)
    busy_s: float = 0.0
    cpu_s: float = 0.0
    failures: int = 0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time used so far by the process `pid` (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send(target: Target, reaction: Reaction) -> tuple[float, int]:
    event = {
        "type": "reaction_added",
        "user": reaction.user,
        "reaction": "+1",
        "item_user": "U0SUBMIT",
        "item": {"type": "message", "channel": CHANNEL, "ts": reaction.ts},
        "event_ts": f"{time.time():.6f}",
    }
    start = time.perf_counter()
    try:
        reply = target.driver.event(event, event_id=reaction.event_id, retry_num=reaction.retry_num)
        status = reply.status
    except OSError:
        status = 0
    return (time.perf_counter() - start) * 1000, status


def run_round(target: Target, batch: list[Reaction], record: bool) -> None:
    started, cpu = time.perf_counter(), cpu_seconds(target.pid)
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        results = list(pool.map(lambda r: send(target, r), batch))
    if not record:
        return
    target.busy_s += time.perf_counter() - started
    target.cpu_s += cpu_seconds(target.pid) - cpu
    for ms, status in results:
        target.ack_ms.append(ms)
        target.failures += status != 200


@contextmanager
def database(url: str | None, workdir: Path) -> Iterator[str]:
    """A URL of an empty database: a fresh one on the PostgreSQL server of `url`, or SQLite."""
    if not url:
        yield f"sqlite:///{workdir / 'ours.db'}"
        return
    import psycopg

    admin = url.replace("postgresql+psycopg://", "postgresql://")
    name = f"csi_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, cards: int, slack: FakeSlack) -> None:
    """An objective and `cards` open proposals whose cards are already in the channel."""
    from storage.db import make_engine, session_scope, upgrade
    from storage.models import Objective, Proposal

    engine = make_engine(url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            objective = Objective(title="Faster incident response")
            session.add(objective)
            session.flush()
            for n in range(cards):
                session.add(
                    Proposal(
                        title=f"Benchmark proposal number {n + 1}",
                        submitter="U0SUBMIT",
                        status="open",
                        objective_id=objective.id,
                        channel_id=CHANNEL,
                        message_ts=card_ts(n),
                    )
                )
                slack.add_message(CHANNEL, card_ts(n), text="card", user="UBOT")
    finally:
        engine.dispose()


@contextmanager
def running(
    name: str, cmd: list[str], slack: FakeSlack, workdir: Path, db_url: str
) -> Iterator[Target]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CSI_"))},
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "PORT": str(port),
        "DATABASE_URL": db_url,
        "CSI_PROPOSALS_CHANNEL": CHANNEL,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        driver = SlackDriver(f"http://127.0.0.1:{port}", SECRET, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if driver.get("/healthz").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: not ready after 60 s:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield Target(name, driver, slack, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if "Traceback" in log_path.read_text(errors="replace"):
            print(f"{name}: its log has a traceback: {log_path}", file=sys.stderr)


def check_counts(url: str, slack: FakeSlack, events: list[Reaction], cards: int) -> list[str]:
    """Every card's votes, in the database and on the card, against the people who reacted."""
    from sqlmodel import select

    from storage import repositories as repo
    from storage.db import make_engine, session_scope
    from storage.models import Proposal

    expected: dict[str, set[str]] = {card_ts(n): set() for n in range(cards)}
    for reaction in events:
        if reaction.ts in expected:  # not the warmup's message that is no card
            expected[reaction.ts].add(reaction.user)
    problems: list[str] = []
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            ids = {p.message_ts: p.id for p in session.exec(select(Proposal))}
            counts = repo.vote_counts(session=session, proposal_ids=[i for i in ids.values() if i])
    finally:
        engine.dispose()
    deadline = time.monotonic() + 30
    for ts, people in expected.items():
        stored = counts.get(ids[ts] or 0, 0)
        if stored != len(people):
            problems.append(f"card {ts}: {stored} votes stored, {len(people)} people reacted")
        want = f":+1: {len(people)} vote"
        while want not in json.dumps(slack.messages[(CHANNEL, ts)].get("blocks")):
            if time.monotonic() > deadline:
                problems.append(f"card {ts} never showed {want}")
                break
            time.sleep(0.1)
    return problems


def one_run(args: argparse.Namespace, seed_value: int) -> dict[str, Any]:
    events = make_events(args.events, args.cards, seed_value)
    warmup = warmup_events(args.cards)
    rounds = [events[i : i + args.round_size] for i in range(0, len(events), args.round_size)]
    cli = bot_executable(args.bot_cmd)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-react-")))
        db_url = stack.enter_context(database(args.database_url, workdir))
        ours_slack = stack.enter_context(FakeSlack(TOKEN))
        bare_slack = stack.enter_context(FakeSlack(TOKEN))
        seed(db_url, args.cards, ours_slack)
        bare_cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-bare"]
        targets = [
            stack.enter_context(running("bare", bare_cmd, bare_slack, workdir, db_url)),
            stack.enter_context(running("ours", [*cli, "serve"], ours_slack, workdir, db_url)),
        ]
        for target in targets:  # not measured (see `warmup_events`)
            run_round(target, warmup, record=False)
        for i, batch in enumerate(rounds):
            for target in targets if i % 2 == 0 else targets[::-1]:
                run_round(target, batch, record=True)
        problems = check_counts(db_url, ours_slack, warmup + events, args.cards)
        updates = len(ours_slack.calls("chat.update"))
    result: dict[str, Any] = {"events": len(events), "problems": problems, "card_updates": updates}
    for target in targets:
        result[target.name] = {
            "failures": target.failures,
            "throughput_per_s": len(target.ack_ms) / target.busy_s,
            "ack_ms": percentiles(target.ack_ms),
            "max_ack_ms": max(target.ack_ms),
            # The server's own CPU while the round was sent (ours: its card redraws included).
            "cpu_ms_per_event": target.cpu_s * 1000 / len(target.ack_ms),
        }
    result["throughput_ratio"] = (
        result["ours"]["throughput_per_s"] / result["bare"]["throughput_per_s"]
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server's URL (default: SQLite)")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--cards", type=int, default=10)
    parser.add_argument("--round-size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1, help="report the median of these runs")
    parser.add_argument("--bot-cmd", help='the real bot\'s CLI (default "csi-bot")')
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare()
        return 0

    load_before = os.getloadavg()[0]
    runs = [one_run(args, seed_value=run) for run in range(args.runs)]
    load_after = os.getloadavg()[0]

    def median(*path: str) -> float:
        values = []
        for run in runs:
            value: Any = run
            for key in path:
                value = value[key]
            values.append(float(value))
        return statistics.median(values)

    summary: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "database": "postgresql" if args.database_url else "sqlite",
        # Other work on the machine slows both servers, not always alike: say how busy it was.
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "runs": runs,
        "median": {
            "throughput_ratio": median("throughput_ratio"),
            **{
                name: {
                    "throughput_per_s": median(name, "throughput_per_s"),
                    "p50_ms": median(name, "ack_ms", "p50"),
                    "p99_ms": median(name, "ack_ms", "p99"),
                    "max_ms": median(name, "max_ack_ms"),
                    "cpu_ms_per_event": median(name, "cpu_ms_per_event"),
                }
                for name in ("bare", "ours")
            },
            "card_updates": median("card_updates"),
        },
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        m = summary["median"]
        print(
            f"{summary['machine']}; {summary['database']}; median of {args.runs} run(s); "
            f"load average {load_before:.2f} before, {load_after:.2f} after"
        )
        print(
            f"{'target':<6} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'CPU ms/event':>13}"
        )
        for name in ("bare", "ours"):
            row = m[name]
            print(
                f"{name:<6} {row['throughput_per_s']:>9.1f} {row['p50_ms']:>8.1f} "
                f"{row['p99_ms']:>8.1f} {row['max_ms']:>8.1f} {row['cpu_ms_per_event']:>13.2f}"
            )
        print(
            f"throughput ours/bare x{m['throughput_ratio']:.2f}; "
            f"{m['card_updates']:.0f} chat.update calls for {args.events} events"
        )
    failed = [
        f"run {n}: {problem}"
        for n, run in enumerate(runs)
        for problem in run["problems"]
        + [
            f"{t}: {run[t]['failures']} not acked with 200"
            for t in ("bare", "ours")
            if run[t]["failures"]
        ]
        + [
            f"{t}: slowest ack {run[t]['max_ack_ms']:.0f} ms"
            for t in ("bare", "ours")
            if run[t]["max_ack_ms"] >= SLACK_ACK_LIMIT_MS
        ]
    ]
    for line in failed:
        print(line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
