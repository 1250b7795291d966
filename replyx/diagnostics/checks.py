"""The checks of ``replyx doctor``, one function each; ``diagnostics/doctor.py`` runs them in order.

Each check turns one entry of the troubleshooting guide (docs/troubleshooting.md) into a test of a
running deployment that names the cause and the fix when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from replyx.diagnostics import nginx
from replyx.diagnostics.probe import Probe, arrival, idle, pong

BROKER_FIX = (
    "Run every replyx process with the same REPLYX_BROKER_URL=redis://HOST:6379/0 "
    "(and the same REPLYX_SECRET_KEY and REPLYX_DATABASE_URL)."
)


@dataclass
class Finding:
    """What one check found: pass, fail or skip, with the cause and the fix of a failure."""

    status: str
    summary: str
    cause: str = ""
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def passed(summary: str, details: dict[str, Any] | None = None) -> Finding:
    """A check that found nothing wrong."""
    return Finding("pass", summary, details=details or {})


def failed(summary: str, cause: str, fix: str, details: dict[str, Any] | None = None) -> Finding:
    """A check that found a problem, with its cause and its fix."""
    return Finding("fail", summary, cause, fix, details or {})


def skipped(summary: str) -> Finding:
    """A check that could not run, and what it needs."""
    return Finding("skip", summary)


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
            "Add the WebSocket location of replyx's nginx config.\n" + nginx.websocket_location_advice(),
        )
    if status in (400, 426) or 200 <= status < 300:
        return (
            "fail",
            f"HTTP {status} instead of 101: the proxy does not forward the Upgrade/Connection headers "
            "(or speaks HTTP/1.0 to the backend).",
            nginx.upgrade_headers_advice(),
        )
    if status in (502, 503, 504):
        return (
            "fail",
            f"HTTP {status}: the proxy cannot reach a replyx backend.",
            "Start the backends (replyx serve) and check the upstream addresses in the proxy config.",
        )
    return "fail", f"HTTP {status} instead of 101.", "Check the proxy's /ws/ location."


async def health(probe: Probe) -> Finding:
    """/health answers, with version, database and broker state."""
    try:
        response = await probe.http.get("/health")
    except httpx.HTTPError as exc:
        return failed(
            "GET /health failed",
            f"{type(exc).__name__}: {exc}",
            "Check the URL and that replyx (or its proxy) is running.",
        )
    if response.status_code not in (200, 503):
        _status, cause, fix = classify_upgrade(response.status_code)
        return failed(f"GET /health answered {response.status_code}", cause, fix)
    try:
        data = response.json()
    except ValueError:
        return failed(
            "GET /health is not replyx",
            "The URL does not answer with replyx's health document.",
            "Point the proxy's / location at replyx.",
        )
    summary = (
        f"replyx {data.get('version')}, database {data.get('database')}, "
        f"broker {data.get('broker')} ({data.get('broker_kind')})"
    )
    if data.get("database") != "ok":
        return failed(
            summary,
            "The database is unreachable: messages cannot be stored.",
            "Check REPLYX_DATABASE_URL and the database server.",
            data,
        )
    if data.get("broker") != "ok":
        return failed(
            summary,
            "The broker connection is down: other processes miss live events until it is back.",
            "Check REPLYX_BROKER_URL and the Redis server.",
            data,
        )
    return passed(summary, data)


async def upgrades(probe: Probe) -> Finding:
    """Every WebSocket endpoint answers the upgrade with 101."""
    paths = {
        "inbox": "/ws/dialogs",
        "admin": "/ws/dialogs/0",
        "site": "/ws/site/dialogs/0",
        "widget": "/ws/widget/dialogs/0",
    }
    results: dict[str, Any] = {}
    failure: tuple[str, str, str] | None = None
    for pool, path in paths.items():
        status, close_code, error = await probe.upgrade(path)
        results[pool] = {"status": status, "close_code": close_code}
        verdict = classify_upgrade(status, error)
        if verdict[0] == "fail" and failure is None:
            failure = verdict
    if failure:
        statuses = ", ".join(f"{pool} {r['status']}" for pool, r in results.items())
        return failed(f"upgrade answers: {statuses}", failure[1], failure[2], results)
    note = " (clients on this https site must use wss://)" if probe.ws.startswith("wss") else ""
    return passed(f"all four endpoints upgrade (101){note}", results)


async def round_trip(probe: Probe) -> Finding:
    """A message sent on one socket reaches a second socket (and the admin socket)."""
    try:
        visitor = await probe.open_dialog()
    except httpx.HTTPStatusError as exc:
        return failed(
            f"opening a dialog answered {exc.response.status_code}",
            _detail(exc.response),
            "Check the site token / assistant id and the allowed domains (--origin).",
        )
    if visitor is None:
        return skipped("give --site-token or --assistant-id to open a test dialog")
    sockets = [await probe.connect(visitor.path), await probe.connect(visitor.path)]
    if probe.options.token:
        sockets.append(await probe.connect(f"/ws/dialogs/{visitor.dialog_id}?token={probe.options.token}"))
    try:
        client_id = uuid.uuid4().hex
        started = time.perf_counter()
        await sockets[0].send(
            json.dumps({"type": "message", "text": "replyx doctor round trip", "client_id": client_id})
        )
        latencies = await asyncio.gather(
            *(arrival(ws, client_id, started, probe.options.timeout) for ws in sockets[1:])
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    missing = [i for i, latency in enumerate(latencies) if latency is None]
    details = {"dialog_id": visitor.dialog_id, "latency_ms": latencies}
    if missing:
        return failed(
            f"{len(missing)} of {len(latencies)} sockets got nothing",
            "Sockets are accepted but messages are not delivered to them.",
            BROKER_FIX,
            details,
        )
    worst = max(v for v in latencies if v is not None)
    return passed(f"delivered to {len(latencies)} other sockets, slowest {worst:.0f} ms", details)


async def multi_process(probe: Probe) -> Finding:
    """Several sockets of one dialog (spread over backends) all receive one message."""
    visitor = probe.visitor  # the round-trip step's dialog: this step runs only where that one could
    if visitor is None:
        return skipped("needs --site-token or --assistant-id")
    nodes = await probe.node_ids()
    sockets = [await probe.connect(visitor.path) for _ in range(probe.options.sockets)]
    try:
        client_id = uuid.uuid4().hex
        started = time.perf_counter()
        response = await probe.http.post(
            f"{visitor.rest}/messages",
            json={"text": "replyx doctor fan-out", "client_id": client_id},
            headers={"X-Guest-Token": visitor.guest_token},
        )
        response.raise_for_status()
        latencies = await asyncio.gather(*(arrival(ws, client_id, started, probe.options.timeout) for ws in sockets))
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
        return failed(f"{got}/{len(sockets)} sockets received", cause, BROKER_FIX, details)
    return passed(f"{got}/{len(sockets)} sockets received; {len(nodes)} process(es) answered", details)


async def heartbeat(probe: Probe) -> Finding:
    """``__ping__`` gets ``__pong__``, and a socket held idle for --hold seconds stays open."""
    o = probe.options
    if probe.visitor is not None:
        path = probe.visitor.path
    elif o.token:
        path = f"/ws/dialogs?token={o.token}"
    else:
        return skipped("needs --site-token, --assistant-id or --token")
    ws = await probe.connect(path)
    try:
        started = time.perf_counter()
        await ws.send("__ping__")
        if not await pong(ws, o.timeout):
            return failed(
                "no __pong__ for __ping__",
                "The socket does not answer heartbeats.",
                "Check that the proxy passes frames both ways (proxy_buffering off).",
            )
        rtt = (time.perf_counter() - started) * 1000
        if o.hold <= 0:
            return passed(f"__pong__ in {rtt:.0f} ms (use --hold to test idle timeouts)")
        idle_started = time.monotonic()
        closed = await idle(ws, o.hold)
        if closed is not None:
            seconds = time.monotonic() - idle_started
            return failed(
                f"socket cut after {seconds:.0f} s idle (close code {closed})",
                "Something between the browser and replyx closes idle sockets sooner than replyx pings "
                "(REPLYX_WS_PING_INTERVAL): nginx's proxy_read_timeout defaults to 60 s.",
                "Set proxy_read_timeout and proxy_send_timeout well above the ping interval "
                f"({nginx.websocket_timeout()} in {nginx.REPOSITORY_PATH}) in the /ws/ location, "
                "or lower REPLYX_WS_PING_INTERVAL.",
                {"idle_seconds": round(seconds, 1), "close_code": closed},
            )
        await ws.send("__ping__")
        if not await pong(ws, o.timeout):
            return failed(
                f"no __pong__ after {o.hold:g} s idle",
                "The idle connection stopped passing frames.",
                "Raise the proxy's read timeout above the ping interval.",
            )
        return passed(f"__pong__ in {rtt:.0f} ms; idle {o.hold:g} s and still open")
    finally:
        await ws.close()


async def embedding(probe: Probe) -> Finding:
    """The chat iframe's CSP and the allowed domains admit --origin."""
    o = probe.options
    if o.site_token:
        query: dict[str, Any] = {"site_token": o.site_token}
    elif o.assistant_id is not None:
        query = {"assistant_id": o.assistant_id}
    else:
        return skipped("needs --site-token or --assistant-id")
    # The page an embed would frame it from: an assistant limited to some domains shows its chat only
    # to them (or to replyx's own pages), as the widget's loader tells it with `origin`.
    query["origin"] = o.origin or str(probe.http.base_url).rstrip("/")
    response = await probe.http.get("/chat-iframe", params=query)
    csp = response.headers.get("content-security-policy", "")
    ancestors = next((p.strip().split()[1:] for p in csp.split(";") if p.strip().startswith("frame-ancestors")), None)
    details = {"status": response.status_code, "frame_ancestors": ancestors}
    if response.status_code != 200:
        return failed(
            f"/chat-iframe answered {response.status_code}", _detail(response), "Proxy /chat-iframe to replyx.", details
        )
    if ancestors is None:
        return failed(
            "no frame-ancestors in the iframe's CSP",
            "Any site could frame the chat.",
            "Upgrade replyx; the iframe page sets frame-ancestors from the allowed domains.",
            details,
        )
    if not o.origin:
        return passed(f"frame-ancestors {' '.join(ancestors)} (give --origin to test a site)", details)
    if not any(_source_matches(source, o.origin) for source in ancestors):
        return failed(
            f"{o.origin} may not frame the chat",
            f"frame-ancestors is {' '.join(ancestors)}.",
            "Add the site's domain to the assistant's allowed domains in the admin panel.",
            details,
        )
    return passed(f"{o.origin} may embed the chat (frame-ancestors {' '.join(ancestors)})", details)


def _source_matches(source: str, origin: str) -> bool:
    source = source.strip("'")
    if source == "*":
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


def _detail(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(response.json().get("detail"))
    return response.text[:200]
