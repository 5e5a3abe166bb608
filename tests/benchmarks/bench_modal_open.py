"""Benchmark: how fast `/improve` (no text) acks and opens its modal, ours vs. bare Bolt.

Two servers run as subprocesses against their own FakeSlack, each served the same way
(waitress + slack_bolt's WSGI SlackRequestHandler):

  (a) bare: a Bolt app that only acks and opens a one-field modal (defined below);
  (b) ours: the real bot, `csi-bot serve`.

Requests alternate between the two (order flipped every round, so neither always goes
first) after a warm-up. For each request two latencies are measured from the moment the
signed request is sent: until the HTTP response (the ack) and until the fake records the
matching `views.open` (found by trigger_id). Prints p50/p90/p99 and ours/bare p50 ratios.

    python tests/benchmarks/bench_modal_open.py [--requests 300] [--warmup 30] [--json]
    python tests/benchmarks/bench_modal_open.py --only bare   # without the real bot
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: make `tests.fakeslack` importable

from tests.fakeslack import FakeSlack, SlackDriver  # noqa: E402

TOKEN = "xoxb-test-token"
SECRET = "bench-signing-secret"


# ---- (a) the bare Bolt app, run in a subprocess with --serve-bare ----------------------
def serve_bare() -> None:
    """Serve a minimal Bolt app with waitress; configured by the same env as the bot."""
    import waitress
    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"], client=client)

    @app.command("/improve")
    def improve(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(
            trigger_id=body["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "propose",
                "title": {"type": "plain_text", "text": "Propose"},
                "submit": {"type": "plain_text", "text": "Submit"},
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "title",
                        "label": {"type": "plain_text", "text": "Title"},
                        "element": {"type": "plain_text_input", "action_id": "value"},
                    }
                ],
            },
        )

    slack_handler = SlackRequestHandler(app)

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        # The same readiness probe the real bot offers, so both start the same way.
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return slack_handler(environ, start_response)

    waitress.serve(wsgi, host="127.0.0.1", port=int(os.environ["PORT"]), _quiet=True)


# ---- harness ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Target:
    """One server under test, its fake Slack and the latencies measured so far."""

    name: str
    driver: SlackDriver
    slack: FakeSlack
    ack_ms: list[float] = field(default_factory=list)
    modal_ms: list[float] = field(default_factory=list)
    failures: int = 0


@contextmanager
def running(
    name: str,
    cmd: list[str],
    slack: FakeSlack,
    workdir: Path,
    startup_timeout: float,
    setup: Sequence[list[str]] = (),
) -> Iterator[Target]:
    """Run `setup` commands, start `cmd` with the bot's env contract, wait for /healthz,
    and stop it afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{workdir / (name + '.db')}",
        "CSI_PROPOSALS_CHANNEL": "C0PROPOSALS",
    }
    env.pop("SLACK_APP_TOKEN", None)  # an app token would switch the bot to Socket Mode
    log_path = workdir / f"{name}.log"
    for step in setup:
        done = subprocess.run(step, env=env, cwd=workdir, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{name} setup {step} failed:\n{done.stdout}{done.stderr}")
    with open(log_path, "wb") as log:
        # cwd = the temp dir, so no stray .env of a developer's checkout is read.
        proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        driver = SlackDriver(f"http://127.0.0.1:{port}", SECRET, timeout=30)
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if driver.get("/healthz").status == 200:
                    break
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{name}: /healthz not 200 after {startup_timeout}s:\n{log_path.read_text()}"
                )
            time.sleep(0.05)
        yield Target(name, driver, slack)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_once(target: Target, record: bool, modal_timeout: float) -> None:
    """One /improve round trip: ack latency, then latency until views.open is recorded."""
    target.slack.clear()  # keeps wait_for's scan short; requests are sequential
    trigger_id = target.driver.trigger_id()
    start = time.time()  # wall clock: FakeSlack stamps calls with time.time()
    try:
        reply = target.driver.slash_command(trigger_id=trigger_id)
    except OSError:
        reply = None
    acked = time.time()
    try:
        call = target.slack.wait_for(
            "views.open", lambda c: c.params.get("trigger_id") == trigger_id, modal_timeout
        )
    except AssertionError:
        call = None
    if not record:
        return
    if reply is None or reply.status != 200 or call is None:
        target.failures += 1
        return
    target.ack_ms.append((acked - start) * 1000)
    target.modal_ms.append((call.at - start) * 1000)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99 in ms (inclusive method: sensible for a few hundred samples)."""
    if len(values) < 2:
        only = values[0] if values else float("nan")
        return {"p50": only, "p90": only, "p99": only}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98]}


def summarize(targets: list[Target]) -> dict[str, Any]:
    result: dict[str, Any] = {
        t.name: {
            "n": len(t.ack_ms),
            "failures": t.failures,
            "ack_ms": percentiles(t.ack_ms),
            "views_open_ms": percentiles(t.modal_ms),
        }
        for t in targets
    }
    if "bare" in result and "ours" in result:
        result["ratio_ours_over_bare_p50"] = {
            kind: result["ours"][kind]["p50"] / result["bare"][kind]["p50"]
            for kind in ("ack_ms", "views_open_ms")
        }
    return result


def print_table(summary: dict[str, Any]) -> None:
    print(
        f"{'target':<6} {'n':>5} {'fail':>4}   "
        f"{'ack p50':>8} {'p90':>7} {'p99':>7}   {'modal p50':>9} {'p90':>7} {'p99':>7}  (ms)"
    )
    for name in ("bare", "ours"):
        if name not in summary:
            continue
        row, ack, modal = summary[name], summary[name]["ack_ms"], summary[name]["views_open_ms"]
        print(
            f"{name:<6} {row['n']:>5} {row['failures']:>4}   {ack['p50']:>8.2f} "
            f"{ack['p90']:>7.2f} {ack['p99']:>7.2f}   {modal['p50']:>9.2f} "
            f"{modal['p90']:>7.2f} {modal['p99']:>7.2f}"
        )
    ratio = summary.get("ratio_ours_over_bare_p50")
    if ratio:
        print(
            f"ours/bare p50: ack x{ratio['ack_ms']:.2f}, views.open x{ratio['views_open_ms']:.2f}"
        )


def bot_executable(spec: str | None) -> list[str]:
    """The real bot's CLI: --bot-cmd, else `csi-bot` beside this Python or on PATH."""
    if spec:
        return spec.split()
    beside = Path(sys.executable).parent / "csi-bot"
    exe = str(beside) if beside.exists() else shutil.which("csi-bot")
    if exe is None:
        raise SystemExit(
            "csi-bot not found: install the project (pip install -e .), "
            "pass --bot-cmd, or use --only bare"
        )
    return [exe]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per target")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests per target")
    parser.add_argument("--only", choices=("both", "bare", "ours"), default="both")
    parser.add_argument("--bot-cmd", help='the real bot\'s CLI (default "csi-bot")')
    parser.add_argument(
        "--no-seed",
        action="store_true",
        help="do not add the objective the bot needs before /improve opens",
    )
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    parser.add_argument("--modal-timeout", type=float, default=10.0)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare()
        return 0

    commands = {"bare": [sys.executable, str(Path(__file__).resolve()), "--serve-bare"]}
    setups: dict[str, list[list[str]]] = {"bare": []}
    if args.only in ("both", "ours"):
        cli = bot_executable(args.bot_cmd)
        commands["ours"] = [*cli, "serve"]
        # /improve answers with a hint instead of a modal until an objective exists.
        setups["ours"] = (
            [] if args.no_seed else [[*cli, "objective", "add", "Faster incident response"]]
        )
    if args.only == "ours":
        del commands["bare"]

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-modal-")))
        targets = [
            stack.enter_context(
                running(
                    name,
                    cmd,
                    stack.enter_context(FakeSlack(TOKEN)),
                    workdir,
                    args.startup_timeout,
                    setups[name],
                )
            )
            for name, cmd in commands.items()
        ]
        for i in range(args.warmup + args.requests):
            for target in targets if i % 2 == 0 else targets[::-1]:
                measure_once(target, record=i >= args.warmup, modal_timeout=args.modal_timeout)
        summary = summarize(targets)

    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary)
    return 1 if any(summary[t]["failures"] for t in commands) else 0


if __name__ == "__main__":
    raise SystemExit(main())
