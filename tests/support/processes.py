"""Start real `replyx serve` processes on free loopback ports and capture their output."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.timing import scaled

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Block until something accepts connections on the port."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


# Every test's traffic comes from 127.0.0.1: the per-address limits, meant for a crowd of real
# visitors, are lifted here unless a test sets them itself (the hardening tests do).
ONE_ADDRESS = {
    "REPLYX_DIALOGS_PER_ADDRESS": "1000000",
    "REPLYX_DIALOGS_PER_ASSISTANT": "1000000",
    "REPLYX_HANDOFFS_PER_ADDRESS": "1000000",
    "REPLYX_VISITOR_ADDRESS_RATE_LIMIT": "1000000000",
    "REPLYX_LOGIN_FAILURES_PER_ADDRESS": "1000000",
}


class ReplyxProcess:
    """One `replyx serve` process with its own environment and log file."""

    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_path = data_dir / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "REPLYX_DATA_DIR": str(data_dir),
            "REPLYX_LOG_LEVEL": "INFO",
            **ONE_ADDRESS,
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket base URL."""
        return f"ws://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        """Run a `replyx` subcommand against this server's database; returns stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "replyx", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=scaled(60),
        )
        if done.returncode != 0:
            raise RuntimeError(f"replyx {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start(self, *extra: str) -> ReplyxProcess:
        """Start serving and wait until /health answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "replyx", "serve", "--host", "127.0.0.1", "--port", str(self.port), *extra],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + scaled(30)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replyx exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"replyx did not become healthy:\n{self.log()}")

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal and reap the process."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=scaled(15))

    def stop(self) -> None:
        """Shut down gracefully, or kill after a grace period."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.kill()
