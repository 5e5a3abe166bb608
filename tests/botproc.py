"""Runs the real `csi-bot` command as a separate process, as an operator would."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
PROPOSALS_CHANNEL = "C0PROPOSALS"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def csi_bot_command() -> list[str]:
    """The installed console script next to this interpreter, or the module as a fallback."""
    script = Path(sys.executable).with_name("csi-bot")
    if script.exists():
        return [str(script)]
    found = shutil.which("csi-bot")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


def bot_env(*, api_url: str, database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a bot under test: the fake Slack, a test database, no .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CSI_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": api_url,
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "CSI_PROPOSALS_CHANNEL": PROPOSALS_CHANNEL,
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    # The suite can be run against the optional semantic method: CSI_TEST_SIMILARITY=semantic.
    if os.environ.get("CSI_TEST_SIMILARITY"):
        env["CSI_SIMILARITY"] = os.environ["CSI_TEST_SIMILARITY"]
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run one `csi-bot` command to completion."""
    return subprocess.run(
        [*csi_bot_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


class BotProcess:
    """`csi-bot serve` in the background; started, awaited on /healthz, stopped."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "bot.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> BotProcess:
        """Start the bot and wait until /healthz answers 200 (a restart's log goes on)."""
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [*csi_bot_command(), "serve"],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"csi-bot serve exited early:\n{self.log()}")
            try:
                with opener.open(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"csi-bot serve did not become healthy:\n{self.log()}")

    def log(self) -> str:
        """What the bot printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the bot (SIGTERM, then SIGKILL)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    @property
    def running(self) -> bool:
        """True between start() and stop() or kill()."""
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """Kill the bot at once (SIGKILL), as a crash or an OOM killer would."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def __enter__(self) -> BotProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def send_oversized(base_url: str, path: str, headers: dict[str, str], *, chunked: bool) -> str:
    """POST a body over 1 MiB the way a client that reads the answer early does; the status
    line of the answer."""
    host, port = base_url.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {2 * 1_048_576}")
    chunk = b"x" * 65_536
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for _ in range(40):  # up to 2.5 MiB, until the bot stops reading
                framed = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
                connection.sendall(framed)
        except OSError:
            pass  # the bot answered and closed: read what it said
        answer = b""
        with contextlib.suppress(OSError):
            while data := connection.recv(65_536):
                answer += data
    return answer.split(b"\r\n", 1)[0].decode()
