"""`replyx doctor`: check a running deployment from outside, step by step.

Each step turns one entry of the troubleshooting guide (docs/troubleshooting.md)
into a check that names the cause and the fix when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

NGINX_WS_BLOCK = """location /ws/ {
    proxy_pass http://backend_up;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;   # map $http_upgrade $connection_upgrade
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_read_timeout 120s;   # well above REPLYX_WS_PING_INTERVAL (25 s)
    proxy_send_timeout 120s;
    proxy_buffering off;
}
(the whole file: deploy/nginx/nginx.conf)"""
BROKER_FIX = (
    "Run every replyx process with the same REPLYX_BROKER_URL=redis://HOST:6379/0 "
    "(and the same REPLYX_SECRET_KEY and REPLYX_DATABASE_URL)."
)


@dataclass
class Step:
    """The outcome of one check."""

    number: int
    name: str
    status: str  # pass, fail or skip
    summary: str
    cause: str = ""
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when this step found a problem."""
        return self.status == "fail"


@dataclass(frozen=True)
class DoctorOptions:
    """What to check and with which credentials."""

    url: str
    site_token: str | None = None
    assistant_id: int | None = None
    token: str | None = None
    hold: float = 0.0
    origin: str | None = None
    sockets: int = 6
    timeout: float = 10.0


@dataclass
class _Visitor:
    dialog_id: int
    path: str
    rest: str
    guest_token: str


def ws_base(url: str) -> str:
    """The WebSocket base of an HTTP(S) URL: wss:// for https, ws:// for http."""
    parts = urlsplit(url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path}"


def classify_upgrade(status: int | None, error: str = "") -> tuple[str, str, str]:
    """(status, cause, fix) for the answer a WebSocket upgrade got."""
    if status == 101:
        return "pass", "", ""
    if status is None:
        return (
            "fail",
            f"The server could not be reached ({error}).",
            "Check the URL, DNS, firewall and that the proxy runs.",
        )
    if status == 404:
        return (
            "fail",
            "404 on /ws/: the proxy has no WebSocket location, so upgrades never reach replyx.",
            "Add this block to the server section of nginx:\n" + NGINX_WS_BLOCK,
        )
    if status in (400, 426) or 200 <= status < 300:
        return (
            "fail",
            f"HTTP {status} instead of 101: the proxy does not forward the Upgrade/Connection headers "
            "(or speaks HTTP/1.0 to the backend).",
            "In the /ws/ location set proxy_http_version 1.1, proxy_set_header Upgrade $http_upgrade and "
            "proxy_set_header Connection $connection_upgrade.",
        )
    if status in (502, 503, 504):
        return (
            "fail",
            f"HTTP {status}: the proxy cannot reach a replyx backend.",
            "Start the backends (replyx serve) and check the upstream addresses in the proxy config.",
        )
    return "fail", f"HTTP {status} instead of 101.", "Check the proxy's /ws/ location."


async def _upgrade(url: str, headers: dict[str, str], timeout: float) -> tuple[int | None, int | None, str]:
    """(HTTP status, close code, error) of one upgrade attempt."""
    try:
        async with websockets.connect(url, open_timeout=timeout, additional_headers=headers) as ws:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_drain(ws), timeout=timeout)
            return 101, ws.close_code, ""
    except InvalidStatus as exc:
        return exc.response.status_code, None, ""
    except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
        return None, None, f"{type(exc).__name__}: {exc}"


async def _drain(ws: ClientConnection) -> None:
    async for _ in ws:
        pass


class Doctor:
    """Runs the steps against one deployment."""

    def __init__(self, options: DoctorOptions) -> None:
        self.o = options
        self.base = options.url.rstrip("/")
        self.ws = ws_base(self.base)
        self.headers = {"Origin": options.origin} if options.origin else {}
        self.http = httpx.AsyncClient(base_url=self.base, timeout=options.timeout, headers=self.headers)
        self.visitor: _Visitor | None = None

    async def run(self) -> list[Step]:
        """Every step in order; socket steps are skipped when sockets cannot open at all."""
        try:
            steps = [await self._guarded(1, "health", self.health)]
            upgrade = await self._guarded(2, "websocket upgrade", self.upgrades)
            steps.append(upgrade)
            socket_steps = (
                (3, "round trip", self.round_trip),
                (4, "multi-process delivery", self.multi_process),
                (5, "heartbeat", self.heartbeat),
            )
            for number, name, check in socket_steps:
                if upgrade.failed:
                    steps.append(Step(number, name, "skip", "WebSocket upgrades fail (step 2); fix that first"))
                else:
                    steps.append(await self._guarded(number, name, check))
            steps.append(await self._guarded(6, "embedding and origin", self.embedding))
            return steps
        finally:
            await self.http.aclose()

    async def _guarded(self, number: int, name: str, check: Any) -> Step:
        # A step that breaks in an unforeseen way is reported, and the others still run.
        try:
            return await check()  # type: ignore[no-any-return]
        except Exception as exc:
            return Step(number, name, "fail", "the check could not complete", f"{type(exc).__name__}: {exc}")

    async def health(self) -> Step:
        """Step 1: /health answers, with version, database and broker state."""
        name = "health"
        try:
            response = await self.http.get("/health")
        except httpx.HTTPError as exc:
            return Step(
                1,
                name,
                "fail",
                "GET /health failed",
                f"{type(exc).__name__}: {exc}",
                "Check the URL and that replyx (or its proxy) is running.",
            )
        if response.status_code != 200 and response.status_code != 503:
            _status, cause, fix = classify_upgrade(response.status_code)
            return Step(1, name, "fail", f"GET /health answered {response.status_code}", cause, fix)
        try:
            data = response.json()
        except ValueError:
            return Step(
                1,
                name,
                "fail",
                "GET /health is not replyx",
                "The URL does not answer with replyx's health document.",
                "Point the proxy's / location at replyx.",
            )
        summary = (
            f"replyx {data.get('version')}, database {data.get('database')}, "
            f"broker {data.get('broker')} ({data.get('broker_kind')})"
        )
        if data.get("database") != "ok":
            return Step(
                1,
                name,
                "fail",
                summary,
                "The database is unreachable: messages cannot be stored.",
                "Check REPLYX_DATABASE_URL and the database server.",
                data,
            )
        if data.get("broker") != "ok":
            return Step(
                1,
                name,
                "fail",
                summary,
                "The broker connection is down: other processes miss live events until it is back.",
                "Check REPLYX_BROKER_URL and the Redis server.",
                data,
            )
        return Step(1, name, "pass", summary, details=data)

    async def upgrades(self) -> Step:
        """Step 2: every WebSocket endpoint answers the upgrade with 101."""
        paths = {
            "inbox": "/ws/dialogs",
            "admin": "/ws/dialogs/0",
            "site": "/ws/site/dialogs/0",
            "widget": "/ws/widget/dialogs/0",
        }
        results: dict[str, Any] = {}
        failure: tuple[str, str, str] | None = None
        for pool, path in paths.items():
            status, close_code, error = await _upgrade(self.ws + path, self.headers, self.o.timeout)
            results[pool] = {"status": status, "close_code": close_code}
            verdict = classify_upgrade(status, error)
            if verdict[0] == "fail" and failure is None:
                failure = verdict
        note = " (clients on this https site must use wss://)" if self.ws.startswith("wss") else ""
        if failure:
            return Step(
                2,
                "websocket upgrade",
                "fail",
                f"upgrade answers: {_statuses(results)}",
                failure[1],
                failure[2],
                results,
            )
        return Step(2, "websocket upgrade", "pass", f"all four endpoints upgrade (101){note}", details=results)

    async def _open_dialog(self) -> _Visitor | None:
        if self.visitor:
            return self.visitor
        if self.o.site_token:
            body: dict[str, Any] = {"site_token": self.o.site_token}
            mode, query = "site", f"site_token={self.o.site_token}"
        elif self.o.assistant_id is not None:
            body = {"assistant_id": self.o.assistant_id}
            mode, query = "widget", f"assistant_id={self.o.assistant_id}"
        else:
            return None
        body["guest_id"] = f"doctor-{uuid.uuid4().hex[:16]}"
        response = await self.http.post(f"/api/{mode}/dialogs", json=body)
        response.raise_for_status()
        data = response.json()
        d = data["dialog_id"]
        self.visitor = _Visitor(
            d,
            f"/ws/{mode}/dialogs/{d}?{query}&guest_token={data['guest_token']}",
            f"/api/{mode}/dialogs/{d}",
            data["guest_token"],
        )
        return self.visitor

    async def _connect(self, path: str) -> ClientConnection:
        ws = await websockets.connect(self.ws + path, open_timeout=self.o.timeout, additional_headers=self.headers)
        await _until(ws, lambda e: e.get("type") == "ready", self.o.timeout)
        return ws

    async def round_trip(self) -> Step:
        """Step 3: a message sent on one socket reaches a second socket (and the admin socket)."""
        name = "round trip"
        try:
            visitor = await self._open_dialog()
        except httpx.HTTPStatusError as exc:
            return Step(
                3,
                name,
                "fail",
                f"opening a dialog answered {exc.response.status_code}",
                _detail(exc.response),
                "Check the site token / assistant id and the allowed domains (--origin).",
            )
        if visitor is None:
            return Step(3, name, "skip", "give --site-token or --assistant-id to open a test dialog")
        sockets = [await self._connect(visitor.path), await self._connect(visitor.path)]
        if self.o.token:
            sockets.append(await self._connect(f"/ws/dialogs/{visitor.dialog_id}?token={self.o.token}"))
        try:
            client_id = uuid.uuid4().hex
            started = time.perf_counter()
            await sockets[0].send(
                json.dumps({"type": "message", "text": "replyx doctor round trip", "client_id": client_id})
            )
            latencies = await asyncio.gather(*(_arrival(ws, client_id, started, self.o.timeout) for ws in sockets[1:]))
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        missing = [i for i, latency in enumerate(latencies) if latency is None]
        details = {"dialog_id": visitor.dialog_id, "latency_ms": latencies}
        if missing:
            return Step(
                3,
                name,
                "fail",
                f"{len(missing)} of {len(latencies)} sockets got nothing",
                "Sockets are accepted but messages are not delivered to them.",
                BROKER_FIX,
                details,
            )
        worst = max(v for v in latencies if v is not None)
        return Step(
            3, name, "pass", f"delivered to {len(latencies)} other sockets, slowest {worst:.0f} ms", details=details
        )

    async def multi_process(self) -> Step:
        """Step 4: several sockets of one dialog (spread over backends) all receive one message."""
        name = "multi-process delivery"
        visitor = self.visitor
        if visitor is None:
            return Step(4, name, "skip", "needs --site-token or --assistant-id")
        nodes = await self._nodes()
        sockets = [await self._connect(visitor.path) for _ in range(self.o.sockets)]
        try:
            client_id = uuid.uuid4().hex
            started = time.perf_counter()
            response = await self.http.post(
                f"{visitor.rest}/messages",
                json={"text": "replyx doctor fan-out", "client_id": client_id},
                headers={"X-Guest-Token": visitor.guest_token},
            )
            response.raise_for_status()
            latencies = await asyncio.gather(*(_arrival(ws, client_id, started, self.o.timeout) for ws in sockets))
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        got = sum(1 for v in latencies if v is not None)
        details = {"sockets": len(sockets), "received": got, "nodes_seen": sorted(nodes)}
        if got < len(sockets):
            cause = (
                f"Only {got} of {len(sockets)} sockets of one dialog received the message. Requests reached "
                f"{len(nodes)} different processes: each keeps its sockets in memory and pushes only to its own — "
                "the in-memory pools behind several workers failure."
            )
            return Step(4, name, "fail", f"{got}/{len(sockets)} sockets received", cause, BROKER_FIX, details)
        return Step(
            4,
            name,
            "pass",
            f"{got}/{len(sockets)} sockets received; {len(nodes)} process(es) answered",
            details=details,
        )

    async def _nodes(self) -> set[str]:
        nodes: set[str] = set()
        for _ in range(12):
            with contextlib.suppress(httpx.HTTPError, ValueError):
                nodes.add(str((await self.http.get("/health")).json().get("node_id")))
        return nodes

    async def heartbeat(self) -> Step:
        """Step 5: __ping__ gets __pong__, and a socket held idle for --hold seconds stays open."""
        name = "heartbeat"
        if self.visitor is not None:
            path = self.visitor.path
        elif self.o.token:
            path = f"/ws/dialogs?token={self.o.token}"
        else:
            return Step(5, name, "skip", "needs --site-token, --assistant-id or --token")
        ws = await self._connect(path)
        try:
            started = time.perf_counter()
            await ws.send("__ping__")
            if not await _pong(ws, self.o.timeout):
                return Step(
                    5,
                    name,
                    "fail",
                    "no __pong__ for __ping__",
                    "The socket does not answer heartbeats.",
                    "Check that the proxy passes frames both ways (proxy_buffering off).",
                )
            rtt = (time.perf_counter() - started) * 1000
            if self.o.hold <= 0:
                return Step(5, name, "pass", f"__pong__ in {rtt:.0f} ms (use --hold to test idle timeouts)")
            idle_started = time.monotonic()
            closed = await _idle(ws, self.o.hold)
            if closed is not None:
                idle = time.monotonic() - idle_started
                return Step(
                    5,
                    name,
                    "fail",
                    f"socket cut after {idle:.0f} s idle (close code {closed})",
                    "Something between the browser and replyx closes idle sockets sooner than replyx pings "
                    "(REPLYX_WS_PING_INTERVAL): nginx's proxy_read_timeout defaults to 60 s.",
                    "Set proxy_read_timeout and proxy_send_timeout well above the ping interval (120s in "
                    "deploy/nginx/nginx.conf) in the /ws/ location, or lower REPLYX_WS_PING_INTERVAL.",
                    {"idle_seconds": round(idle, 1), "close_code": closed},
                )
            await ws.send("__ping__")
            if not await _pong(ws, self.o.timeout):
                return Step(
                    5,
                    name,
                    "fail",
                    f"no __pong__ after {self.o.hold:g} s idle",
                    "The idle connection stopped passing frames.",
                    "Raise the proxy's read timeout above the ping interval.",
                )
            return Step(5, name, "pass", f"__pong__ in {rtt:.0f} ms; idle {self.o.hold:g} s and still open")
        finally:
            await ws.close()

    async def embedding(self) -> Step:
        """Step 6: the chat iframe's CSP and the allowed domains admit --origin."""
        name = "embedding and origin"
        if self.o.site_token:
            query: dict[str, Any] = {"site_token": self.o.site_token}
        elif self.o.assistant_id is not None:
            query = {"assistant_id": self.o.assistant_id}
        else:
            return Step(6, name, "skip", "needs --site-token or --assistant-id")
        response = await self.http.get("/chat-iframe", params=query)
        csp = response.headers.get("content-security-policy", "")
        ancestors = next(
            (p.strip().split()[1:] for p in csp.split(";") if p.strip().startswith("frame-ancestors")), None
        )
        details = {"status": response.status_code, "frame_ancestors": ancestors}
        if response.status_code != 200:
            return Step(
                6,
                name,
                "fail",
                f"/chat-iframe answered {response.status_code}",
                _detail(response),
                "Proxy /chat-iframe to replyx.",
                details,
            )
        if ancestors is None:
            return Step(
                6,
                name,
                "fail",
                "no frame-ancestors in the iframe's CSP",
                "Any site could frame the chat.",
                "Upgrade replyx; the iframe page sets frame-ancestors from the allowed domains.",
                details,
            )
        if not self.o.origin:
            return Step(
                6,
                name,
                "pass",
                f"frame-ancestors {' '.join(ancestors)} (give --origin to test a site)",
                details=details,
            )
        allowed = any(_source_matches(source, self.o.origin) for source in ancestors)
        if not allowed:
            return Step(
                6,
                name,
                "fail",
                f"{self.o.origin} may not frame the chat",
                f"frame-ancestors is {' '.join(ancestors)}.",
                "Add the site's domain to the assistant's allowed domains in the admin panel.",
                details,
            )
        return Step(
            6,
            name,
            "pass",
            f"{self.o.origin} may embed the chat (frame-ancestors {' '.join(ancestors)})",
            details=details,
        )


def _source_matches(source: str, origin: str) -> bool:
    source = source.strip("'")
    if source in ("*",):
        return True
    if source == "self":
        return False
    want = urlsplit(origin)
    if "://" not in source:
        source = f"{want.scheme}://{source}"
    have = urlsplit(source)
    host = have.hostname or ""
    ok = (want.hostname or "").endswith(host[1:]) if host.startswith("*.") else want.hostname == host
    return ok and (have.port is None or have.port == want.port) and have.scheme == want.scheme


def _statuses(results: dict[str, Any]) -> str:
    return ", ".join(f"{pool} {r['status']}" for pool, r in results.items())


def _detail(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(response.json().get("detail"))
    return response.text[:200]


async def _frames(ws: ClientConnection, timeout: float) -> AsyncIterator[str | bytes]:
    """The socket's frames until the timeout, answering the server's ``__ping__`` on the way."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(ws.recv(), timeout=left)
        except TimeoutError:
            return
        if frame == "__ping__":
            await ws.send("__pong__")
            continue
        yield frame


async def _until(ws: ClientConnection, predicate: Any, timeout: float) -> dict[str, Any] | None:
    """The first event that matches, or None on timeout."""
    async for frame in _frames(ws, timeout):
        if frame != "__pong__":
            event = json.loads(frame)
            if predicate(event):
                return event  # type: ignore[no-any-return]
    return None


async def _arrival(ws: ClientConnection, client_id: str, started: float, timeout: float) -> float | None:
    """Milliseconds until the message with this client_id arrives on the socket, or None."""
    with contextlib.suppress(websockets.ConnectionClosed):
        event = await _until(
            ws, lambda e: e.get("type") == "message" and e["message"].get("client_id") == client_id, timeout
        )
        if event is not None:
            return round((time.perf_counter() - started) * 1000, 1)
    return None


async def _pong(ws: ClientConnection, timeout: float) -> bool:
    """True when ``__pong__`` arrives in time."""
    with contextlib.suppress(websockets.ConnectionClosed):
        async for frame in _frames(ws, timeout):
            if frame == "__pong__":
                return True
    return False


async def _idle(ws: ClientConnection, seconds: float) -> int | None:
    """Stay idle (answering pings only); the close code if the socket is cut meanwhile."""
    try:
        async for _frame in _frames(ws, seconds):
            pass
    except websockets.ConnectionClosed:
        return ws.close_code or 1006
    return None


def run_doctor(options: DoctorOptions) -> list[Step]:
    """Run every step and return the outcomes."""
    return asyncio.run(Doctor(options).run())


def as_json(steps: list[Step]) -> str:
    """The outcomes for scripts."""
    return json.dumps({"ok": not any(s.failed for s in steps), "steps": [asdict(s) for s in steps]}, indent=2)
