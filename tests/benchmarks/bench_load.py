"""Load benchmark: many people using the running bot at once, on a large register.

`csi-bot serve` runs against the fake Slack with a register of `--proposals` proposals (100,000
by default, stored by `csi-bot import` of a file shaped like the export). `--users` people (50)
each act for `--seconds` (300), one request after another, each request one of:

  capture   `/improve <title>`: a one-line proposal
  form      `/improve` (the form opens), then the form submitted with a title and an objective
  vote      a :+1: reaction on a card in the proposals channel
  reply     a message in a card's thread (discussion, not a steering word)

Reported: requests, errors (not answered 200, or answered 200 with an error; goal 0), ack
latency p50/p99 overall and per kind (goal p99 < 1 s), and afterwards that every proposal and
every vote the bot acknowledged is in the database.

    python tests/benchmarks/bench_load.py [--users 50] [--seconds 300] [--proposals 100000]
    python tests/benchmarks/bench_load.py --short        # 10 people, 20 s, 5,000 proposals
    python tests/benchmarks/bench_load.py --data-dir DATA_DIR  # the register's texts: real reports
    python tests/benchmarks/bench_load.py --database-url postgresql+psycopg://postgres@host/db
    python tests/benchmarks/bench_load.py --restart  # a restart: the index kept by a first run

With a PostgreSQL URL a fresh database is created on that server and dropped afterwards;
without one, a temporary SQLite file is used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: make `bot`, `storage` and `tests` importable

from bot.ids import ActionId, BlockId, CallbackId  # noqa: E402
from tests.benchmarks.bench_import import OBJECTIVES, make_rows, run_cli, write_file  # noqa: E402
from tests.benchmarks.bench_modal_open import percentiles  # noqa: E402
from tests.benchmarks.bench_reactions import database  # noqa: E402
from tests.benchmarks.bench_scale import KEPT_LINE, rss_mb, texts, with_children_mb  # noqa: E402
from tests.botproc import (  # noqa: E402
    PROPOSALS_CHANNEL,
    SIGNING_SECRET,
    BotProcess,
    bot_env,
    free_port,
)
from tests.fakeslack import FakeSlack, SlackDriver  # noqa: E402

GOAL_P99_MS = 1000.0
SLACK_WINDOW_MS = 3000.0
READ_ELSEWHERE = re.compile(
    r"read by a process of its own \(its peak memory (\d+) MB\).*?(?:read again: (\d+))?$", re.M
)
TAKEN = re.compile(r"proposals in ([\d.]+) s, taken from .*, read again: (\d+)")
KEPT_INDEX = "similar-index.npz"
SEEDED_CARDS = 200  # imported proposals given a card, so that votes start at once
MIX = [("capture", 0.2), ("form", 0.25), ("vote", 0.4), ("reply", 0.15)]
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


@dataclass
class Tally:
    """What the people did and what the bot answered, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ack_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # what they were
    examples: list[str] = field(default_factory=list)
    forms: set[str] = field(default_factory=set)  # source keys of the forms acknowledged
    captures: set[str] = field(default_factory=set)  # source keys of one-line proposals
    votes: set[tuple[str, str]] = field(default_factory=set)  # (card ts, user)
    answers: dict[str, str] = field(default_factory=dict)  # what each one-line capture was told

    def record(self, kind: str, started: float, ok: bool, what: str = "") -> None:
        took = (time.perf_counter() - started) * 1000
        with self.lock:
            self.ack_ms[kind].append(took)
            if not ok:
                self.errors[kind] += 1
                self.reasons[reason(what)] += 1
                if len(self.examples) < 10:
                    self.examples.append(f"{kind}: {what[:300]}")


REASONS = {
    "did not answer in time": "the register did not answer in time",
    "Something went wrong": "something went wrong",
}


def reason(answer: str) -> str:
    """What an error answer said, in a few words."""
    for words, short in REASONS.items():
        if words in answer:
            return short
    return answer[:60] or "no answer"


def title(rng: random.Random) -> str:
    """A title of made-up words: no two alike, so no form is held next to a similar one."""

    def word() -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(3))

    return f"{word().capitalize()} {word()} {word()} {word()} {word()}"


class Person:
    """One person: a thread sending one request after another until the time is up."""

    def __init__(
        self,
        n: int,
        driver: SlackDriver,
        cards: list[str],
        objective: int,
        tally: Tally,
        form: dict[str, Any],
    ) -> None:
        self.form_view = form
        self.user = f"ULOAD{n:04d}"
        self.driver = driver
        self.cards = cards
        self.objective = objective
        self.tally = tally
        self.rng = random.Random(n)
        self.sent = 0

    def run(self, until: float) -> None:
        kinds, weights = zip(*MIX, strict=True)
        while time.monotonic() < until:
            kind = self.rng.choices(kinds, weights)[0]
            try:
                getattr(self, kind)()
            except OSError as exc:
                self.tally.record(kind, time.perf_counter(), False, repr(exc))
            self.sent += 1

    def capture(self) -> None:
        trigger = self.driver.trigger_id()
        started = time.perf_counter()
        reply = self.driver.slash_command(title(self.rng), user_id=self.user, trigger_id=trigger)
        # Stored, or asked for its objective; not "nothing was changed" (the database was busy).
        ok = reply.status == 200 and "nothing was changed" not in reply.body
        self.tally.record("capture", started, ok, reply.body)
        if ok:
            with self.tally.lock:
                self.tally.captures.add(f"command:{trigger}")
                self.tally.answers[f"command:{trigger}"] = reply.body[:300]

    def form(self) -> None:
        started = time.perf_counter()
        reply = self.driver.slash_command("", user_id=self.user)
        self.tally.record("form_open", started, reply.status == 200 and not reply.body, reply.body)
        view_id = f"VLOAD{self.user}X{self.sent}"
        option = {"value": str(self.objective), "text": {"type": "plain_text", "text": "o"}}
        named = title(self.rng)
        state: dict[str, Any] = {
            BlockId.TITLE: {ActionId.TITLE: named},
            BlockId.OBJECTIVE: {
                ActionId.INPUT: {"type": "static_select", "selected_option": option}
            },
            BlockId.VALUE: {ActionId.INPUT: str(self.rng.randint(1, 5))},
        }
        started = time.perf_counter()
        reply = self.driver.view_submission(
            {**self.form_view, "id": view_id},
            user_id=self.user,
            state_values=state,
        )
        answer = reply.json() if reply.status == 200 and reply.body.strip() else {}
        ok = reply.status == 200 and answer.get("response_action") in (None, "clear")
        self.tally.record("form_submit", started, ok, reply.body)
        if ok:
            with self.tally.lock:
                self.tally.forms.add(f"view:{view_id}")
                self.tally.answers[f"view:{view_id}"] = f"{reply.body[:200]!r}; title {named}"

    def vote(self) -> None:
        ts = self.rng.choice(self.cards)
        started = time.perf_counter()
        reply = self.driver.reaction_added(self.user, "+1", PROPOSALS_CHANNEL, ts)
        self.tally.record("vote", started, reply.status == 200, reply.body)
        if reply.status == 200:
            with self.tally.lock:
                self.tally.votes.add((ts, self.user))

    def reply(self) -> None:
        ts = self.rng.choice(self.cards)
        started = time.perf_counter()
        reply = self.driver.message(
            self.user, "How would this work for the night shift?", PROPOSALS_CHANNEL, thread_ts=ts
        )
        self.tally.record("reply", started, reply.status == 200, reply.body)


def the_form(driver: SlackDriver, slack: FakeSlack) -> dict[str, Any]:
    """The proposal form as the bot opens it (its blocks say where an error goes)."""
    trigger = driver.trigger_id()
    reply = driver.slash_command("", user_id="ULOADFORM", trigger_id=trigger)
    if reply.status != 200:
        raise SystemExit(f"/improve did not open the form: {reply.status} {reply.body}")
    call = slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger, 30)
    view = dict(call.response["view"])
    if view.get("callback_id") != CallbackId.PROPOSAL:
        raise SystemExit(f"/improve opened another view: {view.get('callback_id')}")
    return view


def register_rows(proposals: int, data_dir: Path | None) -> list[dict[str, Any]]:
    """Export-shaped rows; with a data folder, their titles and descriptions are its real
    reports (generated text indexes differently: over three times the index's memory)."""
    rows = make_rows(proposals)
    if data_dir is not None:
        for row, (title, description) in zip(rows, texts(proposals, data_dir, seed=1), strict=True):
            # Within what a proposal may hold (the import refuses the rest).
            title, description = CONTROL.sub(" ", title), CONTROL.sub(" ", description)
            row.update(title=title[:150], description=description[:3000], outcome="")
    return rows


def seed(
    url: str, workdir: Path, proposals: int, env: dict[str, str], data_dir: Path | None = None
) -> tuple[float, int]:
    """The register: objectives, then `proposals` imported; the import's seconds and the ID of
    the first objective."""
    for name in OBJECTIVES:
        done = run_cli(["objective", "add", name], env, workdir)
        if done.returncode:
            raise SystemExit(f"objective add failed:\n{done.stdout}{done.stderr}")
    file = workdir / "register.csv"
    write_file(file, register_rows(proposals, data_dir), "csv")
    started = time.perf_counter()
    done = run_cli(["import", str(file)], env, workdir)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"import failed:\n{done.stdout}{done.stderr}")
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            objective = int(connection.execute(text("SELECT min(id) FROM objectives")).scalar_one())
    finally:
        engine.dispose()
    return seconds, objective


def give_cards(url: str, slack: FakeSlack, count: int) -> list[str]:
    """Cards in the proposals channel for the first `count` open proposals."""
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(url)
    stamps = []
    try:
        with engine.begin() as connection:
            ids = connection.execute(
                text("SELECT id FROM proposals WHERE status = 'open' ORDER BY id LIMIT :n"),
                {"n": count},
            ).scalars()
            for n, pid in enumerate(list(ids)):
                ts = f"1700000000.{n + 1:06d}"
                connection.execute(
                    text("UPDATE proposals SET channel_id = :c, message_ts = :ts WHERE id = :id"),
                    {"c": PROPOSALS_CHANNEL, "ts": ts, "id": pid},
                )
                slack.add_message(PROPOSALS_CHANNEL, ts, text="card", user="UBOT")
                stamps.append(ts)
    finally:
        engine.dispose()
    return stamps


def wait_for_index(bot: BotProcess, timeout: float) -> float:
    """Seconds until the bot logs that its similar-proposal index has read the register."""
    started = time.perf_counter()
    while "similar-proposal index" not in bot.log():
        if time.perf_counter() - started > timeout:
            raise SystemExit("the similar-proposal index was not complete in time")
        time.sleep(0.5)
    return time.perf_counter() - started


def first_run(env: dict[str, str], workdir: Path, timeout: float) -> None:
    """Run the bot until it has read the register and kept its index in its file, then stop
    it (its log apart from the measured run's)."""
    folder = workdir / "first-run"
    folder.mkdir()
    started = time.perf_counter()
    with BotProcess(env, folder) as bot:
        while not KEPT_LINE.search(bot.log()):
            if time.perf_counter() - started > timeout:
                raise SystemExit("the first run did not keep its index in time")
            time.sleep(0.5)
    size = (workdir / KEPT_INDEX).stat().st_size / 1e6
    print(
        f"first run: the register read and its index kept ({size:.0f} MB) "
        f"{time.perf_counter() - started:.0f} s after start; stopped"
    )


def _watch_index(bot: BotProcess, until: float, started: float, done: list[float]) -> None:
    while time.monotonic() < until:
        if "similar-proposal index" in bot.log():
            done.append(time.perf_counter() - started)
            return
        time.sleep(1.0)


def _watch_memory(pid: int, stop: threading.Event, most: list[float]) -> None:
    """Every half second: the most the bot and its child processes (the register's first
    reading) held together."""
    while not stop.wait(0.5):
        try:
            together = with_children_mb(pid)
        except OSError:
            return
        if together == together:  # not NaN
            most[0] = max(most[0], together)


def verify(url: str, tally: Tally) -> list[str]:
    """Every acknowledged proposal and vote, found in the database."""
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(url)
    problems = []
    try:
        with engine.connect() as connection:
            keys = set(
                connection.execute(
                    text("SELECT source_key FROM proposals WHERE source_key NOT LIKE 'import:%'")
                ).scalars()
            )
            votes = set(
                connection.execute(
                    text(
                        "SELECT p.message_ts, v.user_id FROM votes v "
                        "JOIN proposals p ON p.id = v.proposal_id"
                    )
                ).all()
            )
            doubled = connection.execute(
                text(
                    "SELECT count(*) FROM (SELECT proposal_id, user_id FROM votes "
                    "GROUP BY proposal_id, user_id HAVING count(*) > 1) AS twice"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    for name, wanted in (("form", tally.forms), ("one-line proposal", tally.captures)):
        lost = wanted - keys
        if lost:
            shown = [f"{key} ({tally.answers.get(key, '')})" for key in sorted(lost)[:3]]
            problems.append(f"{len(lost)} acknowledged {name}s not stored, e.g. {shown}")
    lost_votes = tally.votes - {(str(ts), str(user)) for ts, user in votes}
    if lost_votes:
        problems.append(f"{len(lost_votes)} acknowledged votes not stored")
    if doubled:
        problems.append(f"{doubled} votes counted twice")
    return problems


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of process `pid` so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_seconds() -> float | None:
    """Time all cores have been idle so far (Linux), else None: with the bot's and this
    process's CPU it tells what the rest of the machine (a local database server) used."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")  # idle + iowait


def own_cpu_seconds() -> float:
    """CPU time of this process: the people's threads and the fake Slack."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server's URL (default: SQLite)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--proposals", type=int, default=100_000)
    parser.add_argument("--short", action="store_true", help="10 people, 20 s, 5,000 proposals")
    parser.add_argument("--startup-timeout", type=float, default=300)
    parser.add_argument(
        "--after-index",
        action="store_true",
        help="start the people once the similar-proposal index has read the register (the "
        "steady state; by default they start as soon as the bot serves, as after a restart)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="run the bot once until it has read the register and kept its index, stop it, and "
        "measure the restart that takes the kept index (by default: the first start after the "
        "import, which reads the register)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="the similarity data folder: the register's titles and descriptions are its reports",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.short:
        args.users, args.seconds, args.proposals = 10, 20.0, 5000

    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, FakeSlack() as slack:
        workdir = Path(tmp)
        with database(args.database_url, workdir) as url:
            env = bot_env(
                api_url=slack.api_url,
                database_url=url,
                port=free_port(),
                CSI_STEERING_MEMBERS="USTEER",
                CSI_SIMILARITY_INDEX=str(workdir / KEPT_INDEX),
            )
            import_s, objective = seed(url, workdir, args.proposals, env, args.data_dir)
            cards = give_cards(url, slack, SEEDED_CARDS)
            if args.restart:
                first_run(env, workdir, args.startup_timeout)
            bot = BotProcess(env, workdir)
            started = time.perf_counter()
            bot.start(timeout=args.startup_timeout)
            start_s = time.perf_counter() - started
            driver = SlackDriver(
                base_url=bot.url,
                signing_secret=SIGNING_SECRET,
                response_url_base=slack.response_url_base,
                timeout=30,
            )
            try:
                if args.after_index:
                    index_s = wait_for_index(bot, args.startup_timeout)
                    time.sleep(2.0)  # its last merge and the memory handed back
                    pid = bot._process.pid if bot._process else 0
                    print(
                        f"similar-proposal index complete {index_s:.0f} s after start; the bot's "
                        f"memory then {rss_mb(pid):.0f} MB (peak {rss_mb(pid, 'VmHWM'):.0f} MB)"
                    )
                form = the_form(driver, slack)
                people = [
                    Person(n, driver, cards, objective, tally, form) for n in range(args.users)
                ]
                pid = bot._process.pid if bot._process else 0
                bot_cpu, own_cpu, idle = cpu_seconds(pid), own_cpu_seconds(), idle_seconds()
                until = time.monotonic() + args.seconds
                began = time.perf_counter()
                threads = [threading.Thread(target=p.run, args=(until,)) for p in people]
                index_done: list[float] = []
                together, stop_watching = [0.0], threading.Event()
                threading.Thread(
                    target=_watch_memory, args=(pid, stop_watching, together), daemon=True
                ).start()
                if not args.after_index:  # when the index finished reading, under the load
                    watcher = threading.Thread(
                        target=_watch_index, args=(bot, until, started, index_done), daemon=True
                    )
                    watcher.start()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - began
                bot_cpu_end = cpu_seconds(pid)
                own_cpu = own_cpu_seconds() - own_cpu
                idle_end = idle_seconds()
                idle = idle_end - idle if idle_end is not None and idle is not None else None
                bot_cpu = bot_cpu_end - bot_cpu if bot_cpu_end and bot_cpu is not None else None
                memory = (rss_mb(pid), rss_mb(pid, "VmHWM"))  # after the run, and its peak
                stop_watching.set()
                time.sleep(2.0)  # work after the acks (cards, messages) settles
                posted = sum(1 for c in slack.calls("chat.postMessage") if c.params.get("metadata"))
                problems = verify(url, tally)
                log = bot.log()
            finally:
                bot.stop()
    every = [ms for values in tally.ack_ms.values() for ms in values]
    requests = len(every)
    errors = sum(tally.errors.values())
    summary: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average": round(os.getloadavg()[0], 1),
        "database": "postgresql" if args.database_url else "sqlite",
        "users": args.users,
        "seconds": args.seconds,
        "proposals": args.proposals,
        "texts": "the data folder's reports" if args.data_dir else "generated",
        "import_s": round(import_s, 1),
        "index_complete_s": round(index_done[0]) if index_done else None,
        "start_s": round(start_s, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        # Of the two cores' time during the run: what the bot used, and what the people and the
        # fake Slack (this process) used.
        "bot_cpu_s": round(bot_cpu, 1) if bot_cpu is not None else None,
        "load_generator_cpu_s": round(own_cpu, 1),
        "idle_s": round(idle, 1) if idle is not None else None,
        "rss_mb": round(memory[0]),
        "peak_rss_mb": round(memory[1]),
        # The most the bot and its child processes held together (sampled every 0.5 s).
        "with_children_most_mb": round(together[0]),
        # A large register's first reading is done by a process of the bot's own (its peak).
        "reading_process_peak_mb": int(found.group(1))
        if (found := READ_ELSEWHERE.search(log))
        else None,
        # ... and how many proposals, changed meanwhile, the bot read again as it took it.
        "reading_read_again": int(found.group(2)) if found and found.group(2) else None,
        # With --restart: the kept index taken (seconds, and proposals read again).
        "kept_index_taken": {"seconds": float(taken.group(1)), "read_again": int(taken.group(2))}
        if (taken := TAKEN.search(log))
        else None,
        "load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
        "errors": errors,
        "error_reasons": dict(tally.reasons),
        "ack_ms": {k: round(v, 1) for k, v in percentiles(every).items()},
        "max_ack_ms": round(max(every), 1) if every else None,
        # Slack gives up on an answer after 3 s: such an ack is lost even when it says 200.
        "acks_over_3_s": sum(1 for ms in every if ms > SLACK_WINDOW_MS),
        "by_kind": {
            kind: {
                "requests": len(values),
                "errors": tally.errors.get(kind, 0),
                **{k: round(v, 1) for k, v in percentiles(values).items()},
            }
            for kind, values in sorted(tally.ack_ms.items())
        },
        # Cards are posted at Slack's pace for a channel: the rest wait in the outbox.
        "cards_posted": posted,
        "acknowledged": {
            "forms": len(tally.forms),
            "one_line": len(tally.captures),
            "votes": len(tally.votes),
        },
        "problems": problems,
        "error_examples": tally.examples,
        "tracebacks_in_log": log.count("Traceback"),
        "first_traceback": log[max(0, log.find("Traceback") - 300) :][:3000]
        if "Traceback" in log
        else None,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        s = summary
        print(
            f"{s['machine']}; {s['database']}; load average {s['load_average']}; "
            f"{s['proposals']:,} proposals, texts {s['texts']} (imported in {s['import_s']} s; "
            "bot serving "
            f"{s['start_s']} s after start)"
        )
        if not args.after_index:
            done = s["index_complete_s"]
            print(
                "similar-proposal index complete "
                + (f"{done} s after start, under the load" if done else "not within the run")
            )
        print(
            f"{s['users']} people for {s['seconds']:g} s: {s['requests']} requests "
            f"({s['requests_per_s']}/s), {s['errors']} errors; ack p50 {s['ack_ms']['p50']} ms, "
            f"p99 {s['ack_ms']['p99']} ms (goal < {GOAL_P99_MS:g}), max {s['max_ack_ms']} ms; "
            f"{s['acks_over_3_s']} acks took longer than Slack waits (3 s)"
        )
        for why, count in sorted(s["error_reasons"].items(), key=lambda item: -item[1]):
            print(f"  {count} errors: {why}")
        cores = os.cpu_count() or 1
        print(
            f"CPU during the run: the bot {s['bot_cpu_s']} s, the people and the fake Slack "
            f"{s['load_generator_cpu_s']} s, idle {s['idle_s']} s, of {cores * elapsed:.0f} s "
            f"on {cores} cores (load average 1/5/15 min: {s['load_average_1_5_15']})"
        )
        print(f"the bot's memory after the run {s['rss_mb']} MB (peak {s['peak_rss_mb']} MB)")
        if (taken := s["kept_index_taken"]) is not None:
            print(
                f"the index kept by the first run was taken in {taken['seconds']} s, "
                f"{taken['read_again']} proposals read again; the bot and any child process "
                f"held at most {s['with_children_most_mb']} MB (sampled every 0.5 s)"
            )
        if s["reading_process_peak_mb"] is not None:
            print(
                "the register's first reading was done by a process of its own: its peak "
                f"memory {s['reading_process_peak_mb']} MB; the bot and it together held at "
                f"most {s['with_children_most_mb']} MB (sampled every 0.5 s)"
                + (
                    f"; proposals changed meanwhile, read again: {s['reading_read_again']}"
                    if s["reading_read_again"] is not None
                    else ""
                )
            )
        print(
            f"cards posted during the run and the 2 s after it: {s['cards_posted']} for "
            f"{s['acknowledged']['forms']} forms (Slack takes about one a second in a channel; "
            "the rest wait in the outbox)"
        )
        for kind, row in s["by_kind"].items():
            print(
                f"  {kind:<12} {row['requests']:>6} requests {row['errors']:>4} errors "
                f"p50 {row['p50']:>7} ms  p99 {row['p99']:>7} ms"
            )
        a = s["acknowledged"]
        print(
            f"acknowledged and found in the database: {a['forms']} forms, {a['one_line']} "
            f"one-line proposals, {a['votes']} votes" + ("" if not problems else " — NOT ALL:")
        )
        for problem in problems + tally.examples:
            print(f"  {problem}")
        if summary["first_traceback"]:
            print(summary["first_traceback"])
        if problems:
            noted = [
                line
                for line in log.splitlines()
                if (" WARNING " in line or " ERROR " in line) and "waitress.queue" not in line
            ]
            print("\n".join(noted[:30]))
    failed = problems or errors or summary["tracebacks_in_log"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
