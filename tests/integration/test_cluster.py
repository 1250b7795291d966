"""replyx as a cluster: three backends (one with two workers) on PostgreSQL and Redis behind nginx.

Everything is real: `replyx serve` processes, a throwaway PostgreSQL cluster, a
redis-server and nginx running deploy/nginx/nginx.conf with the test's ports.
The figures each test saw (sockets, messages, recovery times) are printed; run
pytest with -s to see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.profile import pick
from tests.support.chat import ChatSocket, Owner, Visitor, create_assistant, create_owner, open_dialog, socket_paths
from tests.support.inbox import PanelInbox
from tests.support.processes import ReplyxProcess
from tests.support.services import Cluster, Nginx, PostgresCluster, RedisServer
from tests.support.timing import scaled

# Redis outages in a row in the outage test: one in `make test`, ten in `make test-stress`.
OUTAGES = pick(1, 10)
# The third backend is `replyx serve --workers 2`: four processes in all.
BACKEND_WORKERS = [1, 1, 2]
# Idle sockets get a __ping__ every second; the heartbeat test shortens nginx's timeout to match.
PING_INTERVAL = 1.0
CLUSTER_ENV = {
    "REPLYX_WS_PING_INTERVAL": str(PING_INTERVAL),
    "REPLYX_WS_PONG_TIMEOUT": "10",
    # The tests post faster than a person; the limits themselves are tested elsewhere.
    "REPLYX_VISITOR_RATE_LIMIT": "10000",
    "REPLYX_OPERATOR_RATE_LIMIT": "10000",
}
DIALOG_POOLS = ("admin", "site", "widget")
TOKEN = re.compile(r"(token|site_token|guest_token)=(?!\*)|eyJ[A-Za-z0-9_-]{10,}")


@pytest.fixture(scope="module")
def running_cluster(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresCluster,
    redis_server: RedisServer,
    nginx_binary: str,
) -> Iterator[Cluster]:
    """The backends and nginx, started once for this module."""
    cluster = Cluster(
        tmp_path_factory.mktemp("cluster"),
        database_url=postgres.url,
        broker_url=redis_server.url,
        nginx_binary=nginx_binary,
        workers=BACKEND_WORKERS,
        env=CLUSTER_ENV,
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(running_cluster: Cluster, redis_server: RedisServer) -> Cluster:
    """The cluster with Redis and every backend up (an earlier test may have killed one)."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    running_cluster.heal()
    return running_cluster


@pytest.fixture(scope="module")
def cluster_owner(running_cluster: Cluster) -> Owner:
    """An owner account in the cluster's database."""
    return create_owner(running_cluster.backends[0], "cluster")


@pytest.fixture
async def opened() -> AsyncIterator[list[Any]]:
    """Sockets and clients a test opens, closed after it whatever happened."""
    things: list[Any] = []
    yield things
    for thing in things:
        with contextlib.suppress(Exception):
            await (thing.stop() if isinstance(thing, ReconnectingClient) else thing.close())


# -- helpers -----------------------------------------------------------------------------------


async def connect(opened: list[Any], url: str) -> ChatSocket:
    """Open a socket that the test's teardown closes."""
    sock = await ChatSocket.connect(url)
    opened.append(sock)
    return sock


async def take_over(http: httpx.AsyncClient, base: str, owner: Owner, visitor: Visitor) -> None:
    """An operator takes the dialog, so the assistant stays quiet and only the test writes."""
    response = await http.post(f"{base}/api/dialogs/{visitor.dialog_id}/takeover", headers=owner.headers)
    response.raise_for_status()


async def post_as_operator(http: httpx.AsyncClient, base: str, owner: Owner, dialog_id: int, text: str) -> int:
    """POST one operator message, retrying with the same client_id until it is stored; returns its seq."""
    return await _post_until_stored(http, f"{base}/api/dialogs/{dialog_id}/messages", owner.headers, text)


async def post_as_visitor(http: httpx.AsyncClient, base: str, visitor: Visitor, text: str) -> int:
    """POST one visitor message (site mode), retrying with the same client_id; returns its seq."""
    return await _post_until_stored(
        http, f"{base}/api/site/dialogs/{visitor.dialog_id}/messages", visitor.headers, text
    )


async def _post_until_stored(http: httpx.AsyncClient, url: str, headers: dict[str, str], text: str) -> int:
    client_id = uuid.uuid4().hex
    deadline = time.monotonic() + scaled(20)
    while True:
        try:
            response = await http.post(url, json={"text": text, "client_id": client_id}, headers=headers)
            if response.status_code in (200, 201):
                return int(response.json()["seq"])
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not post {text!r}")
        await asyncio.sleep(0.05)


async def stored_messages(http: httpx.AsyncClient, base: str, owner: Owner, dialog_id: int) -> list[dict[str, Any]]:
    """The dialog's history as stored."""
    response = await http.get(f"{base}/api/dialogs/{dialog_id}/messages", headers=owner.headers)
    response.raise_for_status()
    return response.json()["messages"]  # type: ignore[no-any-return]


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait until the condition holds, checking every 50 ms."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    """The seq of each message, in the order given."""
    return [m["seq"] for m in messages]


async def cluster_stats(http: httpx.AsyncClient, base: str, owner: Owner) -> dict[str, Any]:
    """GET /api/ws/stats (through nginx when base is nginx's URL)."""
    response = await http.get(f"{base}/api/ws/stats", headers=owner.headers)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


async def stats_until(
    http: httpx.AsyncClient, base: str, owner: Owner, condition: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """Poll the stats until the condition holds; returns the matching answer."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        stats = await cluster_stats(http, base, owner)
        if condition(stats):
            return stats
        if time.monotonic() > deadline:
            raise AssertionError(f"stats never matched: {stats}")
        await asyncio.sleep(0.2)


def sockets_by_pid(stats: dict[str, Any], dialog_ids: set[int]) -> dict[int, int]:
    """Sockets of the given dialogs held by each process, from the stats."""
    return {
        node["pid"]: sum(
            sum(pools.values()) for dialog_id, pools in node["dialogs"].items() if int(dialog_id) in dialog_ids
        )
        for node in stats["nodes"]
    }


def all_pids(cluster: Cluster) -> set[int]:
    """Every process serving the cluster's requests."""
    return set().union(*(cluster.worker_pids(i) for i in range(len(cluster.backends))))


def assert_no_tokens(*logs: str) -> None:
    """No credential (query parameter value or JWT) appears in the logs."""
    for text in logs:
        leaked = [line for line in text.splitlines() if TOKEN.search(line)]
        assert not leaked, f"token in log: {leaked[:3]}"


class ReconnectingClient:
    """A client that reconnects through nginx with since=<last seq> and checks every frame is last + 1."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self.connections = 0
        self.unsent: dict[str, str] = {}
        self.problems: list[str] = []
        self.connect_failures: list[str] = []
        self.socket: ChatSocket | None = None
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    @property
    def last_seq(self) -> int:
        """The newest seq received."""
        return self.messages[-1]["seq"] if self.messages else 0

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sock = await ChatSocket.connect(f"{self.url}&since={self.last_seq}")
            except Exception as exc:
                self.connect_failures.append(repr(exc))
                await asyncio.sleep(0.1)
                continue
            self.socket = sock
            self.connections += 1
            for client_id, text in list(self.unsent.items()):
                with contextlib.suppress(Exception):
                    await sock.send_message(text, client_id)
            await self._consume(sock)
            self.socket = None
            with contextlib.suppress(Exception):
                await sock.close()
            await asyncio.sleep(0.1)

    async def _consume(self, sock: ChatSocket) -> None:
        while not self._stop.is_set():
            get = asyncio.ensure_future(sock.events.get())
            done, _ = await asyncio.wait({get, sock.closed}, return_when=asyncio.FIRST_COMPLETED)
            if get not in done:
                get.cancel()
                return
            event = get.result()
            if event["type"] != "message":
                continue
            message = event["message"]
            if message["seq"] != self.last_seq + 1:
                self.problems.append(f"got seq {message['seq']} after {self.last_seq}")
                continue
            self.messages.append(message)
            self.unsent.pop(message.get("client_id") or "", None)

    async def send(self, text: str) -> None:
        """Send over the socket; re-sent with the same client_id after a reconnect until seen."""
        client_id = uuid.uuid4().hex
        self.unsent[client_id] = text
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.send_message(text, client_id)

    async def stop(self) -> None:
        """Stop reconnecting and close."""
        self._stop.set()
        if self.socket is not None:
            await self.socket.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, scaled(5))


# -- the tests ---------------------------------------------------------------------------------


async def test_fan_out_over_processes_behind_nginx_exactly_once_in_order(
    cluster: Cluster, cluster_owner: Owner, opened: list[Any]
) -> None:
    base, owner = cluster.nginx.url, cluster_owner
    assistant = create_assistant(base, owner)
    visitors = [open_dialog(base, assistant) for _ in range(2)]
    dialog_ids = {v.dialog_id for v in visitors}
    async with httpx.AsyncClient(timeout=scaled(10)) as http:
        # nginx routes every part of the product to the backends, and nothing else.
        pages = ["/health", "/admin", "/static/admin/admin.css", "/widget.js", "/demo", "/metrics"]
        pages.append(f"/chat-iframe?site_token={assistant['site_token']}")
        for page in pages:
            assert (await http.get(base + page)).status_code == 200, page
        assert (await http.get(base + "/docs")).status_code == 404
        assert (await http.get(base + "/health")).json()["broker"] == "ok"
        for visitor in visitors:
            await take_over(http, base, owner, visitor)
        sockets: dict[int, list[ChatSocket]] = {v.dialog_id: [] for v in visitors}
        for _ in range(5):
            for visitor in visitors:
                for pool in DIALOG_POOLS:
                    url = cluster.nginx.ws_url + socket_paths(visitor, owner)[pool]
                    sockets[visitor.dialog_id].append(await connect(opened, url))
        inbox = await connect(opened, cluster.nginx.ws_url + socket_paths(visitors[0], owner)["inbox"])
        every = [s for group in sockets.values() for s in group]
        await asyncio.gather(*(s.ready() for s in [*every, inbox]))
        assert len(every) == 30

        pids = all_pids(cluster)
        stats = await stats_until(
            http,
            base,
            owner,
            lambda st: {n["pid"] for n in st["nodes"]} == pids and sum(sockets_by_pid(st, dialog_ids).values()) == 30,
            timeout=15,
        )
        per_process = sockets_by_pid(stats, dialog_ids)
        print(f"\n30 sockets over {len(pids)} processes: {sorted(per_process.values())}")
        assert all(count > 0 for count in per_process.values()), per_process
        for dialog_id in dialog_ids:
            assert stats["total"]["dialogs"][str(dialog_id)] == {"admin": 5, "site": 5, "widget": 5}

        direct = [b.url for b in cluster.backends]

        async def write(visitor: Visitor) -> None:
            group = sockets[visitor.dialog_id]
            posts = [post_as_operator(http, direct[0], owner, visitor.dialog_id, f"op-a {i}") for i in range(8)]
            posts += [post_as_visitor(http, direct[1], visitor, f"guest-b {i}") for i in range(8)]
            posts += [post_as_operator(http, direct[2], owner, visitor.dialog_id, f"op-c {i}") for i in range(6)]
            posts += [post_as_operator(http, base, owner, visitor.dialog_id, f"op-nginx {i}") for i in range(4)]
            posts += [group[0].send_message(f"ws-admin {i}") for i in range(5)]
            posts += [group[1].send_message(f"ws-site {i}") for i in range(5)]
            await asyncio.gather(*posts)

        before = {v.dialog_id: len(await stored_messages(http, base, owner, v.dialog_id)) for v in visitors}
        per_dialog = 36  # written by write() below
        started = time.monotonic()
        await asyncio.gather(*(write(v) for v in visitors))
        history = {}
        for visitor in visitors:
            last = before[visitor.dialog_id] + per_dialog
            await until(
                lambda v=visitor, n=last: len(sockets[v.dialog_id][1].received_messages()) >= n,
                timeout=15,
                what="all messages stored and delivered",
            )
            history[visitor.dialog_id] = await stored_messages(http, base, owner, visitor.dialog_id)
            assert seqs(history[visitor.dialog_id]) == list(range(1, last + 1)), "gapless seq, concurrent writers"
        for dialog_id, group in sockets.items():
            for sock in group:
                n = len(history[dialog_id])
                await until(lambda s=sock, n=n: len(s.received_messages()) >= n, 15, "every socket")
        delivered = time.monotonic() - started
        await asyncio.sleep(0.3)  # a duplicate would arrive right behind
        for dialog_id, group in sockets.items():
            for sock in group:
                assert sock.received_messages() == history[dialog_id], "exactly once, in seq order"
        expected_inbox = sorted((d, m["seq"]) for d in dialog_ids for m in history[d][before[d] :])
        await until(lambda: len(inbox.received_messages()) >= len(expected_inbox), 10, "the inbox")
        await asyncio.sleep(0.3)
        inbox_seen = [(e["dialog_id"], e["message"]["seq"]) for e in inbox.all_events if e["type"] == "message"]
        assert sorted(inbox_seen) == expected_inbox, "the inbox gets each message once"
        print(
            f"{2 * per_dialog} messages written through 4 processes and nginx reached 30 sockets and an inbox "
            f"in {delivered:.2f} s"
        )


async def test_killed_backend_clients_reconnect_with_since_and_lose_nothing(
    cluster: Cluster, cluster_owner: Owner, opened: list[Any]
) -> None:
    base, owner = cluster.nginx.url, cluster_owner
    assistant = create_assistant(base, owner)
    visitor = open_dialog(base, assistant)
    victim = cluster.backends[1]
    async with httpx.AsyncClient(timeout=scaled(10)) as http:
        await take_over(http, base, owner, visitor)
        paths = socket_paths(visitor, owner)
        clients = [ReconnectingClient(cluster.nginx.ws_url + paths[pool]) for pool in DIALOG_POOLS for _ in range(4)]
        opened.extend(clients)
        await until(lambda: all(c.connections == 1 for c in clients), 10, "clients connected")
        stats = await stats_until(
            http, base, owner, lambda st: sum(sockets_by_pid(st, {visitor.dialog_id}).values()) == 12, timeout=10
        )
        on_victim = sockets_by_pid(stats, {visitor.dialog_id}).get(victim.proc.pid, 0)  # type: ignore[union-attr]
        assert on_victim > 0, "the backend to kill holds some of the clients"

        posted: list[int] = []
        stop = asyncio.Event()

        async def post_through_nginx() -> None:
            n = 0
            while not stop.is_set():
                posted.append(await post_as_operator(http, base, owner, visitor.dialog_id, f"rest {n}"))
                n += 1
                await asyncio.sleep(0.03)

        async def post_from_clients() -> None:
            n = 0
            while not stop.is_set():
                await clients[n % len(clients)].send(f"ws {n}")
                n += 1
                await asyncio.sleep(0.05)

        writers = [asyncio.create_task(post_through_nginx()), asyncio.create_task(post_from_clients())]
        await until(lambda: len(posted) >= 15, 10, "posts before the kill")
        before_kill = list(posted)
        victim.kill()
        killed_at = time.monotonic()
        await until(
            lambda: sum(c.connections for c in clients) >= len(clients) + on_victim, 15, "reconnects through nginx"
        )
        reconnected = time.monotonic() - killed_at
        await until(lambda: len(posted) >= len(before_kill) + 15, 15, "posts after the kill")
        stop.set()
        await asyncio.gather(*writers)
        await until(lambda: all(not c.unsent for c in clients), 15, "socket messages stored")
        history = await stored_messages(http, base, owner, visitor.dialog_id)
        last = history[-1]["seq"]
        assert seqs(history) == list(range(1, last + 1)), "storage has a gapless seq"
        assert set(before_kill) <= set(seqs(history)), "nothing posted before the kill is lost"
        await until(lambda: all(c.last_seq == last for c in clients), 15, "every client caught up")
        for client in clients:
            assert not client.problems, client.problems
            assert client.messages == history, "full history, gapless, once each, across the reconnect"
        print(
            f"\nkill -9 of a backend holding {on_victim} of 12 sockets: they reconnected through nginx in "
            f"{reconnected:.2f} s; {last} messages, none lost"
        )
    assert_no_tokens(cluster.nginx.access_log(), cluster.nginx.error_log(), *(b.log() for b in cluster.backends))


async def test_redis_outage_every_socket_gets_every_message_once(
    cluster: Cluster, cluster_owner: Owner, redis_server: RedisServer, opened: list[Any]
) -> None:
    """Redis stopped for 3 s while both nodes take posts, then started again (ten times under stress).

    Every dialog socket ends with every message once, in order. Every inbox, on every node, ends
    with every message event or a `resync` after which the list it re-reads has them (PanelInbox).
    """
    base, owner = cluster.nginx.url, cluster_owner
    assistant = create_assistant(base, owner)
    visitor = open_dialog(base, assistant)
    async with httpx.AsyncClient(timeout=scaled(10)) as http:
        await take_over(http, base, owner, visitor)
        paths = socket_paths(visitor, owner)
        sockets = [await connect(opened, cluster.nginx.ws_url + paths[p]) for p in DIALOG_POOLS for _ in range(4)]
        inbox_urls = [cluster.nginx.ws_url + paths["inbox"]] * 2 + [b.ws_url + paths["inbox"] for b in cluster.backends]
        inbox_sockets = [await connect(opened, url) for url in inbox_urls]
        await asyncio.gather(*(s.ready() for s in [*sockets, *inbox_sockets]))
        inboxes = [PanelInbox(sock, base, owner) for sock in inbox_sockets]
        opened.extend(inboxes)
        seen_before = len(await stored_messages(http, base, owner, visitor.dialog_id))
        stats = await stats_until(
            http,
            base,
            owner,
            lambda st: sum(sockets_by_pid(st, {visitor.dialog_id}).values()) == len(sockets),
            timeout=10,
        )
        holders = [pid for pid, n in sockets_by_pid(stats, {visitor.dialog_id}).items() if n]
        assert len(holders) >= 3, "the sockets are spread over several processes"
        direct = [b.url for b in cluster.backends]
        for outage in range(OUTAGES):
            await _outage_round(http, cluster, owner, visitor, redis_server, direct, sockets, inboxes, seen_before)
            print(f"outage {outage + 1}/{OUTAGES}: inboxes told to resync {[i.resyncs for i in inboxes]}")


async def _outage_round(
    http: httpx.AsyncClient,
    cluster: Cluster,
    owner: Owner,
    visitor: Visitor,
    redis_server: RedisServer,
    direct: list[str],
    sockets: list[ChatSocket],
    inboxes: list[PanelInbox],
    seen_before: int,
) -> None:
    base = cluster.nginx.url
    log_offsets = [len(b.log()) for b in cluster.backends]
    baseline: list[float] = []
    for i, url in enumerate(direct):
        started = time.monotonic()
        await post_as_operator(http, url, owner, visitor.dialog_id, f"before the outage {i}")
        baseline.append(time.monotonic() - started)
    await asyncio.to_thread(redis_server.stop)
    outage_started = time.monotonic()
    latencies: list[float] = []

    async def post_during_outage(base_url: str, tag: str) -> None:
        n = 0
        while time.monotonic() - outage_started < 3.0:
            started = time.monotonic()
            await post_as_operator(http, base_url, owner, visitor.dialog_id, f"{tag} {n}")
            latencies.append(time.monotonic() - started)
            n += 1
            await asyncio.sleep(0.1)

    await asyncio.gather(*(post_during_outage(url, f"during {i}") for i, url in enumerate(direct)))
    await asyncio.to_thread(redis_server.start)
    restarted = time.monotonic()
    # Right as Redis is back, from every node: the moment the inbox hole was found at.
    for i, url in enumerate(direct):
        await post_as_operator(http, url, owner, visitor.dialog_id, f"after the outage {i}")
    history = await stored_messages(http, base, owner, visitor.dialog_id)
    last = history[-1]["seq"]
    await until(lambda: all(len(s.received_messages()) >= last for s in sockets), 20, "every socket caught up")
    recovered = time.monotonic() - restarted
    wanted = set(range(seen_before + 1, last + 1))
    await until(lambda: all(wanted <= i.covered(visitor.dialog_id) for i in inboxes), 20, "every inbox caught up")
    inboxes_recovered = time.monotonic() - restarted
    await asyncio.sleep(0.3)  # a duplicate would arrive right behind
    for sock in sockets:
        assert sock.received_messages() == history, "every message, once, in order"
    for inbox in inboxes:
        assert inbox.repeated(visitor.dialog_id) == [], "no message event twice on an inbox"
    assert max(latencies) < scaled(1.5), f"posting waited on Redis: {max(latencies):.2f} s"

    logs = list(zip(cluster.backends, log_offsets, BACKEND_WORKERS, strict=True))
    await until(
        lambda: all(b.log()[o:].count("Redis broker reconnected") >= w for b, o, w in logs), 10, "recovery logged"
    )
    for backend, offset, workers in logs:
        text = backend.log()[offset:]
        assert text.count("Redis broker connection lost") == workers, "the outage is logged once per process"
        assert text.count("Redis broker reconnected") == workers, "so is the recovery"
    await stats_until(http, base, owner, lambda st: all(n["broker_connected"] for n in st["nodes"]), 10)
    print(
        f"\nRedis down {restarted - outage_started:.1f} s: {len(latencies)} messages posted meanwhile "
        f"(slowest POST {max(latencies) * 1000:.0f} ms, {max(baseline) * 1000:.0f} ms before); "
        f"{len(sockets)} sockets had all {last} messages {recovered:.2f} s after Redis was back "
        f"({len(inboxes)} inboxes: {inboxes_recovered:.2f} s)"
    )


async def test_idle_socket_through_nginx_lives_on_pings(
    cluster: Cluster, cluster_owner: Owner, tmp_path: Path, nginx_binary: str, opened: list[Any]
) -> None:
    read_timeout = 2.5  # seconds; nginx takes it in milliseconds below
    # The same backend setup, but pinging every 5 minutes: nothing flows on an idle socket.
    quiet = ReplyxProcess(tmp_path / "quiet", env={**cluster.env, "REPLYX_WS_PING_INTERVAL": "300"})
    starting = asyncio.create_task(asyncio.to_thread(quiet.start))
    short = {"proxy_read_timeout": f"{read_timeout * 1000:.0f}ms", "proxy_send_timeout": f"{read_timeout * 1000:.0f}ms"}
    proxies = {
        "pinged": Nginx(tmp_path / "pinged", nginx_binary, [cluster.backends[0].port], directives=short),
        "silent": Nginx(tmp_path / "silent", nginx_binary, [quiet.port], directives=short),
    }
    try:
        for proxy in proxies.values():
            assert "syntax is ok" in proxy.check()
            assert f"proxy_read_timeout {read_timeout * 1000:.0f}ms;" in proxy.conf_path.read_text()
        await starting
        for proxy in proxies.values():
            proxy.start()
        base, owner = cluster.nginx.url, cluster_owner
        visitor = open_dialog(base, create_assistant(base, owner))
        path = socket_paths(visitor, owner)["site"]
        pinged = await connect(opened, proxies["pinged"].ws_url + path)
        silent = await connect(opened, proxies["silent"].ws_url + path)
        await asyncio.gather(pinged.ready(), silent.ready())
        opened_at = time.monotonic()

        await silent.close_code(timeout=read_timeout * 3)
        cut_after = time.monotonic() - opened_at
        assert silent.pings == 0
        assert read_timeout * 0.8 <= cut_after <= read_timeout + scaled(2), f"cut after {cut_after:.1f} s"

        alive_for = read_timeout * 3
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pinged.closed), alive_for - (time.monotonic() - opened_at))
        assert pinged.pings >= int(alive_for / PING_INTERVAL) - 1
        async with httpx.AsyncClient(timeout=scaled(10)) as http:
            await post_as_visitor(http, base, visitor, "still there?")
        await until(lambda: "still there?" in [m["text"] for m in pinged.received_messages()], 5, "the message")
        print(
            f"\nnginx proxy_read_timeout {read_timeout} s: the silent socket was cut after {cut_after:.1f} s; "
            f"the pinged one was alive after {time.monotonic() - opened_at:.1f} s ({pinged.pings} pings)"
        )
    finally:
        for proxy in proxies.values():
            proxy.stop()
        with contextlib.suppress(Exception):
            await starting
        quiet.stop()


async def test_stats_through_nginx_cover_every_process_and_drop_a_killed_one(
    cluster: Cluster, cluster_owner: Owner, opened: list[Any]
) -> None:
    base, owner = cluster.nginx.url, cluster_owner
    visitor = open_dialog(base, create_assistant(base, owner))
    paths = socket_paths(visitor, owner)
    # Straight to each backend, so the expected figures per process are known.
    layout = {0: ["admin", "site"], 1: ["admin", "site", "widget"], 2: ["admin", "admin", "site", "widget"]}
    sockets = []
    for index, pools in layout.items():
        for pool in pools:
            sockets.append(await connect(opened, cluster.backends[index].ws_url + paths[pool]))
    sockets.append(await connect(opened, cluster.backends[0].ws_url + paths["inbox"]))
    await asyncio.gather(*(s.ready() for s in sockets))
    pids = {i: cluster.worker_pids(i) for i in layout}
    expected = {"admin": 4, "site": 3, "widget": 2}

    def complete(st: dict[str, Any]) -> bool:
        counts = sockets_by_pid(st, {visitor.dialog_id})
        # Another process's figures are its last published snapshot: wait for one taken after every socket opened.
        return (
            {n["pid"] for n in st["nodes"]} == set().union(*pids.values())
            and all(sum(counts.get(pid, 0) for pid in pids[i]) == len(pools) for i, pools in layout.items())
            and sum(n["inbox"] for n in st["nodes"]) == 1
        )

    async with httpx.AsyncClient(timeout=scaled(10)) as http:
        stats = await stats_until(http, base, owner, complete, timeout=15)
        assert stats["total"]["dialogs"][str(visitor.dialog_id)] == expected
        assert stats["total"]["connections"] >= len(sockets)
        answered_by = set()
        for _ in range(8):
            answer = await cluster_stats(http, base, owner)
            answered_by.add(answer["node_id"])
            assert {n["pid"] for n in answer["nodes"]} == set().union(*pids.values())
        assert len(answered_by) >= 2, "different processes answered, each with the whole cluster"

        victim = cluster.backends[1]
        victim_pid = victim.proc.pid  # type: ignore[union-attr]
        victim.kill()
        killed_at = time.monotonic()
        stats = await stats_until(
            http, base, owner, lambda st: victim_pid not in {n["pid"] for n in st["nodes"]}, timeout=15
        )
        gone_after = time.monotonic() - killed_at
        assert stats["total"]["dialogs"][str(visitor.dialog_id)] == {"admin": 3, "site": 2, "widget": 1}
        print(
            f"\nstats through nginx: {len(set().union(*pids.values()))} processes, answered by {len(answered_by)} "
            f"of them; the killed one was gone from the stats after {gone_after:.1f} s"
        )


async def test_a_logout_on_one_node_closes_the_operators_sockets_on_every_node(
    cluster: Cluster, opened: list[Any]
) -> None:
    owner = create_owner(cluster.backends[0], "leaving")
    visitor = open_dialog(cluster.nginx.url, create_assistant(cluster.nginx.url, owner))
    paths = socket_paths(visitor, owner)
    held = [await connect(opened, b.ws_url + paths[pool]) for b in cluster.backends for pool in ("admin", "inbox")]
    await asyncio.gather(*(s.ready() for s in held))
    async with httpx.AsyncClient(timeout=scaled(10)) as http:
        answer = await http.post(f"{cluster.backends[1].url}/api/auth/logout", headers=owner.headers)
        assert answer.status_code == 204
    codes = await asyncio.gather(*(s.close_code() for s in held))
    assert codes == [4001] * len(held), "every node closed the ended session's sockets"
