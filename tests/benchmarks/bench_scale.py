"""Benchmark: the real bot with 100,000 proposals: start, memory, captures right after an import.

Two runs of `csi-bot serve` against a fake Slack (as bench_modal_open.py starts it):

  1. start: a register of --size proposals (bulk inserts), then the bot starts. Measured: the
     time from launching the process to the first served request (a signed `/improve help`
     answered), the time until the similar-proposal index has read the register (its log
     line), and the resident memory (VmRSS from /proc) 15 s after that; also the peak, and
     the most the bot and its child processes (a first reading) held together. Then
     the same for a restart (`restart_*`), which takes the index the first start kept in its
     file (CSI_SIMILARITY_INDEX) instead of reading the register.
  2. import while running: the bot runs on a small register (--base proposals); --size
     proposals are imported in one transaction (bulk inserts, as `csi-bot import` stores them),
     and right after the commit one-line captures (`/improve <title>`) are sent one after
     another, --captures of them every --pace seconds: their ack latencies (first, p50, p99,
     max), how long the index took to take the import in, and the memory 15 s and 60 s
     (--settle, --late) after that, and the peak.

    python tests/benchmarks/bench_scale.py [--database-url URL] [--size 100000]
        [--data-dir DATA_DIR] [--captures 300] [--pace 0.1] [--json]

Without --database-url a temporary SQLite file is used; with it, the tables of that database
are dropped and recreated: use a scratch one. Texts come from the similarity data folder when
--data-dir is given (cycled with a number beyond its size), else they are generated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bot import proposals  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.models import TITLE_MAX, Proposal  # noqa: E402
from storage.types import utcnow  # noqa: E402
from tests.benchmarks.scratch import emptied  # noqa: E402
from tests.botproc import csi_bot_command, free_port  # noqa: E402
from tests.fakeslack import FakeSlack, SlackDriver  # noqa: E402

TOKEN = "xoxb-test-token"
SECRET = "bench-signing-secret"
INSERT_CHUNK = 5000
SETTLE_S = 15.0
# The import run measures the memory again this long after the index took the import in.
LATE_S = 60.0
# The index kept in its file: by the bot, or by the process that read the register for it.
KEPT_LINE = re.compile(r"similar-proposal index kept in|\) and kept in")
READY_LINE = re.compile(r"similar-proposal index \((\w+)\): (\d+) proposals in ([0-9.]+) s")


def cycle(base: list[tuple[str, str]], size: int) -> list[tuple[str, str]]:
    """`base` repeated up to `size` items."""
    return [base[i % len(base)] for i in range(size)]


def numbered(title: str, round_: int) -> str:
    """The title of the `round_`th repeat of a report: a number after it (none the first time),
    within the length a title may have (PostgreSQL refuses a longer one)."""
    if not round_:
        return title
    suffix = f" ({round_})"
    return title[: TITLE_MAX - len(suffix)] + suffix


def texts(size: int, data_dir: Path | None, seed: int) -> list[tuple[str, str]]:
    """`size` (title, description) pairs: real reports when a data folder is given."""
    if data_dir is not None:
        base: list[tuple[str, str]] = []
        for name in ("dev/docs.jsonl", "padding.jsonl"):
            with (data_dir / name).open(encoding="utf-8") as lines:
                for line in lines:
                    doc = json.loads(line)
                    base.append((doc["title"][:TITLE_MAX], doc.get("description") or ""))
        rng = random.Random(seed)
        rng.shuffle(base)
        return [(numbered(t, i // len(base)), d) for i, (t, d) in enumerate(cycle(base, size))]
    rng = random.Random(seed)
    syllables = [a + b for a in "bcdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "ai", "ou")]
    words = ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(30_000)]
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf, like real wording

    def phrase(n: int) -> str:
        return " ".join(rng.choices(words, weights, k=n))

    return [
        (phrase(rng.randint(4, 9)).capitalize(), phrase(rng.randint(8, 40))) for _ in range(size)
    ]


def fresh_database(url: str | None, workdir: Path, name: str) -> tuple[str, Engine]:
    """A migrated, empty database (a scratch one's tables are dropped first)."""
    url = url or f"sqlite:///{workdir / (name + '.db')}"
    return url, emptied(url)


def store(engine: Engine, objective_id: int, pairs: list[tuple[str, str]], age: timedelta) -> float:
    """Insert proposals in bulk, in one transaction; seconds taken."""
    stamped = utcnow() - age
    rows = [
        {
            "title": title,
            "description": description,
            "outcome": "",
            "objective_id": objective_id,
            "submitter": "U0BENCH",
            "status": "open",
            "created_at": stamped,
            "updated_at": stamped,
        }
        for title, description in pairs
    ]
    started = time.perf_counter()
    with engine.begin() as connection:
        for start in range(0, len(rows), INSERT_CHUNK):
            connection.execute(insert(Proposal), rows[start : start + INSERT_CHUNK])
    return time.perf_counter() - started


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def with_children_mb(pid: int) -> float:
    """The resident memory of a process and its child processes together, MB."""
    children: list[int] = []
    # Each thread lists the children it started (the refresher thread starts the reading).
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    together = rss_mb(pid)
    for child in children:
        with contextlib.suppress(OSError):  # it ended meanwhile
            together += rss_mb(child)
    return together


class Bot:
    """`csi-bot serve` in the background, its log, and a sampler of its memory."""

    def __init__(
        self, database_url: str, workdir: Path, slack: FakeSlack, name: str, kept: str = ""
    ) -> None:
        port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CSI_"))}
        self.env.update(
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=slack.api_url,
            PORT=str(port),
            DATABASE_URL=database_url,
            CSI_PROPOSALS_CHANNEL="C0PROPOSALS",
            NO_PROXY="127.0.0.1,localhost",
            # Where the similar-proposal index is kept between runs (named by the database).
            CSI_SIMILARITY_INDEX=str(workdir / f"{kept or name}.index.npz"),
        )
        self.log_path = workdir / f"{name}.log"
        self.driver = SlackDriver(
            f"http://127.0.0.1:{port}", SECRET, response_url_base=slack.response_url_base
        )
        self.workdir = workdir
        self.samples: list[tuple[float, float]] = []
        # The most the bot and its child processes (a first reading) held together.
        self.most_with_children = 0.0
        self._stop = threading.Event()

    @contextmanager
    def running(self) -> Iterator[Bot]:
        with open(self.log_path, "wb") as log:
            self.launched = time.perf_counter()
            self.proc = subprocess.Popen(
                [*csi_bot_command(), "serve"],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        try:
            yield self
        finally:
            self._stop.set()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.perf_counter(), rss_mb(self.proc.pid)))
                together = with_children_mb(self.proc.pid)
            except OSError:
                return
            if together == together:  # not NaN
                self.most_with_children = max(self.most_with_children, together)
            time.sleep(0.2)

    def first_served(self, timeout: float = 120) -> float:
        """Seconds from launch until a signed `/improve help` is answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the bot exited:\n{self.log_path.read_text()}")
            try:
                if self.driver.slash_command("help").status == 200:
                    return time.perf_counter() - self.launched
            except OSError:
                pass
            time.sleep(0.02)
        raise SystemExit(f"the bot did not answer in {timeout} s:\n{self.log_path.read_text()}")

    def index_lines(self) -> list[tuple[int, float]]:
        """(proposals, seconds) of each 'similar-proposal index' log line so far."""
        return [
            (int(m.group(2)), float(m.group(3)))
            for m in READY_LINE.finditer(self.log_path.read_text(errors="replace"))
        ]

    def wait_index_lines(self, count: int, timeout: float = 600) -> list[tuple[int, float]]:
        deadline = time.monotonic() + timeout
        while len(lines := self.index_lines()) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"no index log line:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        return lines

    def settled_rss(self, seconds: float = 3.0, settle: float = SETTLE_S) -> float:
        """Median RSS over `seconds`, after `settle` seconds (the index merges its segments
        once the register is read)."""
        time.sleep(settle + seconds)
        recent = [mb for at, mb in self.samples if at >= time.perf_counter() - seconds]
        return statistics.median(recent) if recent else rss_mb(self.proc.pid)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run_start(
    args: argparse.Namespace, workdir: Path, pairs: list[tuple[str, str]]
) -> dict[str, Any]:
    url, engine = fresh_database(args.database_url, workdir, "start")
    with session_scope(engine) as session:
        objective_id = proposals.add_objective(session=session, title="Benchmark").id or 0
    seeded = store(engine, objective_id, pairs, timedelta(days=1))
    engine.dispose()
    print(f"start: {len(pairs)} proposals stored in {seeded:.1f} s", file=sys.stderr)
    figures: dict[str, Any] = {"proposals": len(pairs)}
    # The first start reads the register; the restart takes the index the first one kept.
    for run in ("start", "restart"):
        with FakeSlack(TOKEN) as slack, Bot(url, workdir, slack, run, "start").running() as bot:
            served = bot.first_served()
            (indexed, built), *_ = bot.wait_index_lines(1)
            ready = time.perf_counter() - bot.launched
            rss = bot.settled_rss(settle=args.settle)
            peak = rss_mb(bot.proc.pid, "VmHWM")
            while not KEPT_LINE.search(bot.log_path.read_text(errors="replace")):
                if run == "restart":
                    break  # taken as it was: nothing to keep again
                time.sleep(0.1)
        prefix = "" if run == "start" else "restart_"
        figures |= {
            f"{prefix}first_served_s": round(served, 2),
            f"{prefix}index_ready_s": round(ready, 1),
            f"{prefix}index_build_s": built,
            f"{prefix}indexed": indexed,
            f"{prefix}rss_mb": round(rss),
            f"{prefix}peak_rss_mb": round(peak),
            # Sampled every 0.2 s: the bot and the process reading the register, if any.
            f"{prefix}with_children_most_mb": round(bot.most_with_children),
        }
    return figures


def run_import(
    args: argparse.Namespace,
    workdir: Path,
    pairs: list[tuple[str, str]],
    base: list[tuple[str, str]],
) -> dict[str, Any]:
    url, engine = fresh_database(args.database_url, workdir, "import")
    with session_scope(engine) as session:
        objective_id = proposals.add_objective(session=session, title="Benchmark").id or 0
    store(engine, objective_id, base, timedelta(days=1))
    with FakeSlack(TOKEN) as slack, Bot(url, workdir, slack, "import").running() as bot:
        bot.first_served()
        bot.wait_index_lines(1)
        for _ in range(20):  # warm-up
            bot.driver.slash_command("Warm up the capture path")
        imported = store(engine, objective_id, pairs, timedelta(0))
        committed = time.perf_counter()
        print(f"import: {len(pairs)} proposals stored in {imported:.1f} s", file=sys.stderr)
        latencies: list[float] = []
        failures = 0
        rng = random.Random(7)
        for i in range(args.captures):
            title = rng.choice(pairs)[0][:100]
            started = time.perf_counter()
            try:
                reply = bot.driver.slash_command(title)
                ok = reply.status == 200
            except OSError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            failures += not ok
            pause = committed + (i + 1) * args.pace - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        lines = bot.wait_index_lines(2, timeout=600)
        taken_at = time.perf_counter()
        taken_in = max(seconds for count, seconds in lines[1:]) if len(lines) > 1 else float("nan")
        rss = bot.settled_rss(settle=args.settle)
        peak = rss_mb(bot.proc.pid, "VmHWM")
        late = None
        if args.late > args.settle:
            rss_late = bot.settled_rss(settle=max(0.0, taken_at + args.late - time.perf_counter()))
            late = round(rss_late)
            peak = rss_mb(bot.proc.pid, "VmHWM")
    engine.dispose()
    return {
        "imported": len(pairs),
        "import_s": round(imported, 1),
        "captures": len(latencies),
        "failures": failures,
        "capture_first_ms": round(latencies[0], 1),
        "capture_p50_ms": round(statistics.median(latencies), 1),
        "capture_p99_ms": round(percentile(latencies, 0.99), 1),
        "capture_max_ms": round(max(latencies), 1),
        "captures_span_s": round(args.captures * args.pace, 1),
        "index_took_import_in_s": taken_in,
        "rss_mb": round(rss),
        "rss_late_mb": late,
        "peak_rss_mb": round(peak),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a scratch database (default: SQLite temp file)")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--base", type=int, default=1_000, help="register before the import")
    parser.add_argument("--data-dir", type=Path, help="the similarity data folder")
    parser.add_argument("--captures", type=int, default=300)
    parser.add_argument("--pace", type=float, default=0.1, help="seconds between captures")
    parser.add_argument("--only", choices=("both", "start", "import"), default="both")
    parser.add_argument(
        "--settle", type=float, default=SETTLE_S, help="seconds before memory is measured"
    )
    parser.add_argument(
        "--late",
        type=float,
        default=LATE_S,
        help="seconds after the import was taken in for a second memory figure (0: none)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    pairs = texts(args.size + args.base, args.data_dir, seed=1)
    summary: dict[str, Any] = {"database": (args.database_url or "sqlite").split(":")[0]}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        workdir = Path(tmp)
        if args.only in ("both", "start"):
            summary["start"] = run_start(args, workdir, pairs[: args.size])
        if args.only in ("both", "import"):
            summary["import"] = run_import(args, workdir, pairs[: args.size], pairs[args.size :])
    print(json.dumps(summary, indent=None if args.json else 2))
    bad = summary.get("import", {}).get("failures", 0)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
