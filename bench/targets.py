"""Servers under test: replyx in its configurations and the two peers, each started for real.

A target starts its processes on free 127.0.0.1 ports, prepares the rooms of a
shape (for replyx: owners, assistants, dialogs taken over by an operator, and
their tokens) and says which socket URLs the client opens. Rooms are grouped
by owner so a whole group, inbox included, lands in one client worker.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.client import SocketSpec
from bench.stats import process_tree
from tests.support.processes import ROOT, ReplyxProcess, free_port, wait_for_port

# Limits a real deployment keeps; the benchmark drives many sockets and messages from one
# address and a handful of accounts, so they are lifted (a visitor rate limit of 20 per
# 10 s is a per-person rule, not a capacity).
BENCH_LIMITS = {
    "REPLYX_VISITOR_RATE_LIMIT": "1000000000",
    "REPLYX_OPERATOR_RATE_LIMIT": "1000000000",
    "REPLYX_MAX_SOCKETS_PER_IP": "1000000",
    "REPLYX_MAX_CONNECTS_PER_IP": "1000000000",
    "REPLYX_MAX_CONNECTIONS": "1000000",
    "REPLYX_MAX_SOCKETS_PER_DIALOG": "1000",
}
# REST calls in flight while preparing dialogs.
SETUP_CONCURRENCY = 16


@dataclass(frozen=True)
class Shape:
    """D dialogs of one visitor and K operator sockets; inbox sockets per group of dialogs."""

    dialogs: int
    operators: int
    dialogs_per_owner: int
    inbox_per_owner: int

    @property
    def owners(self) -> int:
        """Groups of dialogs (owner accounts for replyx)."""
        return -(-self.dialogs // self.dialogs_per_owner)

    @property
    def sockets(self) -> int:
        """Sockets the client opens."""
        return self.dialogs * (1 + self.operators) + self.owners * self.inbox_per_owner

    @property
    def fanout(self) -> int:
        """Sockets that receive one message: the dialog's and its group's inboxes."""
        return 1 + self.operators + self.inbox_per_owner

    def groups(self) -> list[list[int]]:
        """Dialog indexes of each owner group."""
        per = self.dialogs_per_owner
        return [list(range(start, min(start + per, self.dialogs))) for start in range(0, self.dialogs, per)]


class Target:
    """A server under test."""

    name = ""
    protocol = ""

    def start(self) -> None:
        """Start the processes and wait until they answer."""
        raise NotImplementedError

    def server_pids(self) -> list[int]:
        """Processes whose RSS and CPU count as the server's (not nginx, redis or PostgreSQL)."""
        raise NotImplementedError

    def prepare(self, shape: Shape) -> list[list[SocketSpec]]:
        """The sockets to open, one list per owner group."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop everything started."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What this target is, for the report."""
        return {"name": self.name}

    def log_tail(self) -> str:
        """The end of the server's log, kept in the results for failed runs."""
        return ""


class UvicornPeer(Target):
    """A peer app served by uvicorn with its defaults (uvloop, httptools, default ws, deflate accepted)."""

    app = ""

    def __init__(self, ws: str = "auto") -> None:
        self.ws = ws
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.directory = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-"))

    def start(self) -> None:
        """Run uvicorn on a free loopback port."""
        command = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--ws", self.ws, "--log-level", "warning", "--no-access-log"]
        log = (self.directory / "server.log").open("ab")
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=30)

    def server_pids(self) -> list[int]:
        """The uvicorn process."""
        assert self.proc is not None
        return process_tree(self.proc.pid)

    def stop(self) -> None:
        """Terminate uvicorn."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        """Name and ws implementation."""
        return {"name": self.name, "ws": self.ws}


class FastapiPeer(UvicornPeer):
    """bench/peers/fastapi_rooms.py."""

    name = "fastapi-broadcast"
    protocol = "plain"
    app = "bench.peers.fastapi_rooms:app"

    def prepare(self, shape: Shape) -> list[list[SocketSpec]]:
        """Dialog rooms ``d{i}``; an inbox socket is in every room of its group."""
        base = f"ws://127.0.0.1:{self.port}/ws?rooms="
        groups = []
        for dialog_ids in shape.groups():
            specs = []
            for d in dialog_ids:
                specs.append(SocketSpec(base + f"d{d}", "visitor", d, shape.fanout))
                specs += [SocketSpec(base + f"d{d}", "operator", d, shape.fanout) for _ in range(shape.operators)]
            rooms = ",".join(f"d{d}" for d in dialog_ids)
            specs += [SocketSpec(base + rooms, "inbox", dialog_ids[0]) for _ in range(shape.inbox_per_owner)]
            groups.append(specs)
        return groups


class SocketioPeer(UvicornPeer):
    """bench/peers/socketio_rooms.py."""

    name = "python-socketio"
    protocol = "socketio"
    app = "bench.peers.socketio_rooms:app"

    def prepare(self, shape: Shape) -> list[list[SocketSpec]]:
        """The same rooms, entered with a ``join`` event."""
        url = f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"
        groups = []
        for dialog_ids in shape.groups():
            specs = []
            for d in dialog_ids:
                room = f"d{d}"
                for role in ["visitor"] + ["operator"] * shape.operators:
                    specs.append(SocketSpec(url, role, d, shape.fanout, join=[room], send_room=room))
            rooms = [f"d{d}" for d in dialog_ids]
            specs += [SocketSpec(url, "inbox", dialog_ids[0], join=rooms) for _ in range(shape.inbox_per_owner)]
            groups.append(specs)
        return groups


@dataclass
class Account:
    """An owner account of the benchmark with its token and assistant."""

    email: str
    password: str
    token: str = ""
    site_token: str = ""


class ReplyxTarget(Target):
    """``replyx serve`` on SQLite + memory broker, or PostgreSQL + Redis behind nginx."""

    protocol = "replyx"

    def __init__(self, config: str = "sqlite", env: dict[str, str] | None = None, label: str = "") -> None:
        self.config = config
        self.extra_env = env or {}
        self.name = label or f"replyx-{config}"
        self.directory = Path(tempfile.mkdtemp(prefix="bench-replyx-"))
        self.workers = 2 if config.endswith("-2") else 1
        self.services: list[Any] = []
        self.server: ReplyxProcess | None = None
        self.base_url = ""
        self.ws_base = ""

    def start(self) -> None:
        """Start PostgreSQL, Redis and nginx when the configuration needs them, then replyx."""
        env = {**BENCH_LIMITS, **self.extra_env}
        if self.config != "sqlite":
            env.update(self._start_services())
        self.server = ReplyxProcess(self.directory, env=env)
        self.server.start("--workers", str(self.workers))
        self.base_url, self.ws_base = self.server.url, self.server.ws_url
        if self.config != "sqlite":
            self._start_nginx()

    def _start_services(self) -> dict[str, str]:
        from tests.support.services import PostgresCluster, RedisServer, find_binary

        redis_bin = find_binary("redis-server", "/usr/bin/redis-server")
        pg_ctl = find_binary("pg_ctl", "/usr/lib/postgresql/*/bin/pg_ctl")
        if redis_bin is None or pg_ctl is None:
            raise RuntimeError("redis-server and PostgreSQL are needed for this configuration")
        redis = RedisServer(self.directory, redis_bin).start()
        self.services.append(redis)
        postgres = PostgresCluster(str(Path(pg_ctl).parent)).start()
        self.services.append(postgres)
        return {"REPLYX_BROKER_URL": redis.url, "REPLYX_DATABASE_URL": postgres.url}

    def _start_nginx(self) -> None:
        from tests.support.services import Nginx, find_binary

        binary = find_binary("nginx", "/usr/sbin/nginx")
        if binary is None:
            raise RuntimeError("nginx is needed for this configuration")
        assert self.server is not None
        nginx_dir = self.directory / "nginx"
        nginx_dir.mkdir()
        nginx = Nginx(nginx_dir, binary, [self.server.port]).start()
        self.services.append(nginx)
        self.base_url, self.ws_base = nginx.url, nginx.ws_url

    def log_tail(self) -> str:
        """Warnings and errors of the server log (its INFO lines are per message)."""
        if self.server is None:
            return ""
        lines = [line for line in self.server.log().splitlines() if " INFO " not in line and "INFO:" not in line]
        return "\n".join(lines[-40:])

    def server_pids(self) -> list[int]:
        """The serve process and its uvicorn workers."""
        assert self.server is not None and self.server.proc is not None
        return process_tree(self.server.proc.pid)

    def prepare(self, shape: Shape) -> list[list[SocketSpec]]:
        """Owners, assistants and dialogs taken over by an operator (so no assistant answers)."""
        accounts = [
            Account(f"bench-{i}-{uuid.uuid4().hex[:6]}@example.test", uuid.uuid4().hex) for i in range(shape.owners)
        ]
        asyncio.run(self._create_owners(accounts))
        return asyncio.run(self._prepare(shape, accounts))

    async def _create_owners(self, accounts: list[Account]) -> None:
        # In-process through the domain API: one CLI call per owner would take a second each.
        from replyx.broker.memory import MemoryBroker
        from replyx.config import load_settings
        from replyx.db.engine import create_engine, create_session_factory
        from replyx.domain import operators
        from replyx.domain.context import ChatContext
        from replyx.domain.ratelimit import SlidingWindowLimiter
        from replyx.domain.writer import create_writer

        assert self.server is not None
        env = self.server.env
        settings = load_settings(data_dir=env["REPLYX_DATA_DIR"], database_url=env.get("REPLYX_DATABASE_URL", ""))

        async def nothing() -> None:
            return None

        engine = create_engine(settings.effective_database_url)
        broker = MemoryBroker(on_message=lambda _t, _d: None, on_reconnect=nothing)
        ctx = ChatContext(
            settings=settings,
            sessions=create_session_factory(engine),
            broker=broker,
            limiter=SlidingWindowLimiter(settings.rate_limit_window),
            writer=create_writer(engine, broker),
        )
        try:
            for account in accounts:
                await operators.create_owner(ctx, email=account.email, password=account.password)
        finally:
            await ctx.writer.close()
            await engine.dispose()

    async def _prepare(self, shape: Shape, accounts: list[Account]) -> list[list[SocketSpec]]:
        limit = asyncio.Semaphore(SETUP_CONCURRENCY)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as http:

            async def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
                async with limit:
                    response = await http.request(method, path, **kwargs)
                response.raise_for_status()
                return response.json()  # type: ignore[no-any-return]

            async def account_ready(account: Account) -> None:
                login = await call(
                    "POST", "/api/auth/login", json={"email": account.email, "password": account.password}
                )
                account.token = login["access_token"]
                auth = {"Authorization": f"Bearer {account.token}"}
                assistant = await call("POST", "/api/assistants", json={"name": "Bench shop"}, headers=auth)
                account.site_token = assistant["site_token"]

            await asyncio.gather(*(account_ready(a) for a in accounts))

            async def open_dialog(account: Account) -> dict[str, Any]:
                opened = await call("POST", "/api/site/dialogs", json={"site_token": account.site_token})
                auth = {"Authorization": f"Bearer {account.token}"}
                await call("POST", f"/api/dialogs/{opened['dialog_id']}/takeover", headers=auth)
                return opened

            groups = shape.groups()
            opened = await asyncio.gather(*(open_dialog(accounts[g]) for g, ids in enumerate(groups) for _ in ids))
        ws = self.ws_base
        result = []
        index = 0
        for g, dialog_ids in enumerate(groups):
            account = accounts[g]
            specs = []
            for d in dialog_ids:
                dialog = opened[index]
                index += 1
                dialog_id = dialog["dialog_id"]
                query = f"site_token={account.site_token}&guest_token={dialog['guest_token']}"
                visitor = f"{ws}/ws/site/dialogs/{dialog_id}?{query}"
                specs.append(SocketSpec(visitor, "visitor", d, shape.fanout))
                operator = f"{ws}/ws/dialogs/{dialog_id}"
                bearer = [("Authorization", f"Bearer {account.token}")]
                specs += [
                    SocketSpec(operator, "operator", d, shape.fanout, headers=bearer) for _ in range(shape.operators)
                ]
            bearer = [("Authorization", f"Bearer {account.token}")]
            specs += [
                SocketSpec(f"{ws}/ws/dialogs", "inbox", dialog_ids[0], headers=bearer)
                for _ in range(shape.inbox_per_owner)
            ]
            result.append(specs)
        return result

    def stop(self) -> None:
        """Stop replyx and the services, newest first."""
        if self.server is not None:
            self.server.stop()
        for service in reversed(self.services):
            service.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        """Configuration and environment overrides."""
        return {"name": self.name, "config": self.config, "workers": self.workers, "env": self.extra_env}


def services_available() -> bool:
    """Whether the PostgreSQL + Redis + nginx configurations can run in this tree."""
    return (
        (ROOT / "replyx" / "broker" / "redis.py").exists()
        and (ROOT / "deploy" / "nginx" / "nginx.conf").exists()
        and (ROOT / "tests" / "support" / "services.py").exists()
    )


def make_target(name: str, env: dict[str, str] | None = None) -> Target:
    """A target by its report name."""
    if name == "fastapi":
        return FastapiPeer((env or {}).get("ws", "auto"))
    if name == "socketio":
        return SocketioPeer((env or {}).get("ws", "auto"))
    if name.startswith("replyx"):
        config = name.removeprefix("replyx-") if name != "replyx" else "sqlite"
        return ReplyxTarget(config, env)
    raise ValueError(f"unknown target {name!r}")


def wait_settled(seconds: float = 1.0) -> None:
    """Let the server finish post-connect work before reading its RSS."""
    time.sleep(seconds)
