"""Throwaway redis-server, PostgreSQL and nginx processes on free loopback ports.

Each service lives in its own temporary directory and binds 127.0.0.1 only.
nginx runs the project's own ``deploy/nginx/nginx.conf``, rendered with the
test's ports and paths by ``render_nginx_conf``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT, ReplyxProcess, free_port, wait_for_port
from tests.support.timing import scaled

NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"


def find_binary(name: str, *fallbacks: str) -> str | None:
    """A command on PATH, else the first existing fallback (Debian keeps some outside PATH)."""
    found = shutil.which(name)
    if found:
        return found
    for pattern in fallbacks:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    return None


def _wait_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} still accepts connections")


class RedisServer:
    """A redis-server without persistence; stop and start it again on the same port."""

    def __init__(self, directory: Path, binary: str) -> None:
        self.directory = directory
        self.binary = binary
        self.port = free_port()
        self.log_path = directory / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start and wait until the port accepts connections."""
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.directory), "--logfile", str(self.log_path), "--daemonize", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM) and wait until its port is free."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _wait_closed(self.port)


class PostgresCluster:
    """A PostgreSQL cluster made by initdb in a temporary directory, with one database."""

    def __init__(self, bindir: str) -> None:
        self.bindir = Path(bindir)
        self.port = free_port()
        # initdb refuses to run as root: run the server as the postgres account then.
        self.user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        self.directory = Path(tempfile.mkdtemp(prefix="replyx-pg-"))
        self.data = self.directory / "data"
        self.sockets = self.directory / "sockets"
        self.log_path = self.directory / "postgres.log"
        self.database = "replyx"

    @property
    def url(self) -> str:
        """An asyncpg database URL for replyx."""
        return f"postgresql+asyncpg://replyx@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        done = subprocess.run(args, capture_output=True, text=True, timeout=scaled(120), cwd=self.directory, **kwargs)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stdout}{done.stderr}")

    def start(self) -> PostgresCluster:
        """initdb (trust auth, no fsync), start on the free port and create the database."""
        self.sockets.mkdir()
        if self.user is not None:
            for path in (self.directory, self.sockets):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "replyx", "-A", "trust", "-E", "UTF8")
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "start"
        )
        try:
            createdb = str(self.bindir / "createdb")
            self._run(createdb, "-h", str(self.sockets), "-p", str(self.port), "-U", "replyx", self.database)
        except BaseException:
            self.stop()  # no fixture tears down a cluster that failed to start
            raise
        return self

    def stop(self) -> None:
        """Stop the server fast and remove its directory."""
        with contextlib.suppress(Exception):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def _set_directive(conf: str, name: str, value: str) -> str:
    pattern = re.compile(rf"^(\s*){re.escape(name)}\s[^;]*;", re.MULTILINE)
    if not pattern.search(conf):
        raise ValueError(f"nginx.conf has no {name} directive")
    return pattern.sub(lambda m: f"{m.group(1)}{name} {value};", conf)


def _set_path(conf: str, name: str, path: Path) -> str:
    # Replace only the file of every `name FILE [level|format];`, keeping what follows it.
    pattern = re.compile(rf"^(\s*{re.escape(name)}\s+)\S+?(\s[^;]*)?;", re.MULTILINE)
    if not pattern.search(conf):
        raise ValueError(f"nginx.conf has no {name} directive")
    return pattern.sub(lambda m: f"{m.group(1)}{path}{m.group(2) or ''};", conf)


def render_nginx_conf(
    template: str,
    *,
    prefix: Path,
    listen_port: int,
    upstreams: list[int],
    directives: dict[str, str] | None = None,
) -> str:
    """The shipped config with this test's listen port, backends, pid/log/temp paths and overrides."""
    conf = _set_directive(template, "listen", f"127.0.0.1:{listen_port}")
    conf = _set_path(conf, "pid", prefix / "nginx.pid")
    conf = _set_path(conf, "error_log", prefix / "error.log")
    conf = _set_path(conf, "access_log", prefix / "access.log")
    servers = "".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;\n" for port in upstreams)
    conf, count = re.subn(
        r"(upstream backend_up \{\n)(?:[ \t]*server [^;\n]*;\n)+", lambda m: m.group(1) + servers, conf
    )
    if count != 1:
        raise ValueError("nginx.conf has no upstream backend_up block starting with server lines")
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = conf.replace("http {\n", "http {\n" + temp, 1)
    if os.geteuid() == 0:
        # Workers would drop to nobody, who cannot enter the private temporary directory.
        conf = conf.replace("worker_processes", "user root;\nworker_processes", 1)
    for name, value in (directives or {}).items():
        conf = _set_directive(conf, name, value)
    return conf


class Nginx:
    """nginx running the project's config, rendered for this test."""

    def __init__(
        self,
        directory: Path,
        binary: str,
        upstreams: list[int],
        *,
        directives: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.binary = binary
        self.port = free_port()
        self.conf_path = directory / "nginx.conf"
        directory.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(
            render_nginx_conf(
                NGINX_CONF.read_text(),
                prefix=directory,
                listen_port=self.port,
                upstreams=upstreams,
                directives=directives,
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket base URL."""
        return f"ws://127.0.0.1:{self.port}"

    def _command(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.directory), "-c", str(self.conf_path), "-e", "stderr", *extra]

    def check(self) -> str:
        """Run ``nginx -t`` on the rendered config; returns its output, raises when invalid."""
        done = subprocess.run(self._command("-t"), capture_output=True, text=True, timeout=scaled(30))
        if done.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{done.stderr}")
        return done.stderr

    def start(self) -> Nginx:
        """Start in the foreground (as a child of the tests) and wait for the port."""
        self.proc = subprocess.Popen(
            self._command("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "stderr.log").open("ab"),
        )
        try:
            wait_for_port(self.port)
        except BaseException:
            self.stop()
            raise
        return self

    def access_log(self) -> str:
        """The access log so far."""
        path = self.directory / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def error_log(self) -> str:
        """The error log so far."""
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Fast shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Cluster:
    """replyx backends sharing PostgreSQL and Redis, behind nginx running the project's config."""

    def __init__(
        self,
        directory: Path,
        *,
        database_url: str,
        broker_url: str,
        nginx_binary: str,
        workers: list[int],
        env: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.env = {
            "REPLYX_DATABASE_URL": database_url,
            "REPLYX_BROKER_URL": broker_url,
            # Every backend must sign and check tokens with the same key.
            "REPLYX_SECRET_KEY": "cluster-test-" + uuid.uuid4().hex,
            "REPLYX_TRUSTED_PROXIES": "127.0.0.1",
            **(env or {}),
        }
        self.workers = workers
        self.backends = [ReplyxProcess(directory / f"backend{i + 1}", env=self.env) for i in range(len(workers))]
        self.nginx = Nginx(directory / "nginx", nginx_binary, [b.port for b in self.backends])

    def start_backends(self, *indexes: int) -> None:
        """Start the given backends (all when none given) at the same time; wait until each is healthy."""
        chosen = indexes or tuple(range(len(self.backends)))
        with ThreadPoolExecutor(len(chosen)) as pool:
            futures = [pool.submit(self._start, i) for i in chosen]
            for future in futures:
                future.result()

    def _start(self, index: int) -> None:
        extra = ("--workers", str(self.workers[index])) if self.workers[index] > 1 else ()
        self.backends[index].start(*extra)

    def start(self) -> Cluster:
        """Backends first, then nginx (after `nginx -t` on the rendered config)."""
        self.start_backends()
        self.nginx.check()
        self.nginx.start()
        return self

    def heal(self) -> None:
        """Restart backends a test killed, on their old ports."""
        dead = [i for i, b in enumerate(self.backends) if b.proc is None or b.proc.poll() is not None]
        if dead:
            self.start_backends(*dead)

    def worker_pids(self, index: int) -> set[int]:
        """Process ids serving requests for one backend (its workers, or itself with one worker)."""
        proc = self.backends[index].proc
        assert proc is not None
        if self.workers[index] == 1:
            return {proc.pid}
        return {pid for pid in _children(proc.pid) if _is_worker(pid)}

    def stop(self) -> None:
        """Stop nginx and every backend."""
        self.nginx.stop()
        for backend in self.backends:
            backend.stop()


def _children(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command may contain spaces and parentheses: the fields after the last ")" are fixed.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def _is_worker(pid: int) -> bool:
    # uvicorn's supervisor may also start a resource tracker; workers run multiprocessing.spawn.
    try:
        return b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
