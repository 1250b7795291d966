"""Every endpoint × every kind of credential, with the outcome the access rules give, for all combinations.

The REST routes come from the server's own OpenAPI schema, so a new route joins the matrix by itself;
its family (operator, guest, dialog opening, public) follows from how it takes its credential.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from replyx.domain import auth
from tests.reliability.figures import record
from tests.support.chat import ChatSocket, Owner, Visitor, create_assistant, create_owner, open_dialog
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

KINDS = ("none", "forged", "expired", "alg_none", "other_owner", "other_dialog_guest", "rotated_site", "right")
OPEN = "open"  # a socket that stays open and sends `ready`


@dataclass
class World:
    """Two owners, each with an assistant and dialogs, and every kind of credential built for them."""

    server: ReplyxProcess
    owner: Owner
    other_owner: Owner
    assistant: dict[str, Any]
    spare_assistant: dict[str, Any]
    visitor: Visitor
    other_dialog: Visitor
    foreign: Visitor
    rotated_site_token: str
    secret: str

    def sign(self, purpose: str, claims: dict[str, Any], *, expired: bool = False, key: str | None = None) -> str:
        """A token of the purpose, signed right (or with ``key``), optionally already expired."""
        if expired:
            claims = {**claims, "exp": datetime.now(UTC) - timedelta(minutes=5)}
        return jwt.encode(claims, key or auth._key(self.secret, purpose), algorithm="HS256")

    def operator_token(self, kind: str) -> str | None:
        """What stands in the operator JWT slot for the kind."""
        claims = jwt.decode(self.owner.token, options={"verify_signature": False})
        return {
            "none": None,
            "forged": self.sign("operator", claims, key="not-the-secret-but-long-enough-for-hs256"),
            "expired": self.sign("operator", claims, expired=True),
            "alg_none": jwt.encode(claims, None, algorithm="none"),
            "other_owner": self.other_owner.token,
            "other_dialog_guest": self.other_dialog.guest_token,
            "rotated_site": self.rotated_site_token,
            "right": self.owner.token,
        }[kind]

    def guest_token(self, kind: str) -> str | None:
        """What stands in the guest token slot for the kind."""
        claims = {"did": self.visitor.dialog_id, "gid": self.visitor.guest_id}
        return {
            "none": None,
            "forged": self.sign("guest", claims, key="not-the-secret-but-long-enough-for-hs256"),
            "expired": self.sign("guest", claims, expired=True),
            "alg_none": jwt.encode(claims, None, algorithm="none"),
            "other_owner": self.foreign.guest_token,
            "other_dialog_guest": self.other_dialog.guest_token,
            "rotated_site": self.rotated_site_token,
            "right": self.visitor.guest_token,
        }[kind]

    def site_token(self, kind: str) -> str | None:
        """What stands in the site token slot for the kind."""
        claims = {"aid": self.assistant["id"], "ver": 1}
        current = jwt.decode(self.assistant["site_token"], options={"verify_signature": False})
        return {
            "none": None,
            "forged": self.sign("site", current, key="not-the-secret-but-long-enough-for-hs256"),
            "expired": self.sign("site", {**claims, **current}, expired=True),
            "alg_none": jwt.encode(current, None, algorithm="none"),
            "other_owner": self.foreign.site_token,
            "other_dialog_guest": self.other_dialog.guest_token,
            "rotated_site": self.rotated_site_token,
            "right": self.assistant["site_token"],
        }[kind]


@pytest.fixture(scope="module")
def world(shared_server: ReplyxProcess) -> World:
    """Owner A (assistant with two dialogs, a spare assistant) and owner B (assistant with a dialog)."""
    server = shared_server
    owner, other_owner = create_owner(server, "a"), create_owner(server, "b")
    rotated = create_assistant(server.url, owner, greeting="hello from A")
    old_token = rotated["site_token"]
    response = httpx.post(f"{server.url}/api/assistants/{rotated['id']}/rotate-token", headers=owner.headers)
    response.raise_for_status()
    assistant = {**rotated, "site_token": response.json()["site_token"]}
    foreign_assistant = create_assistant(server.url, other_owner, greeting="hello from B")
    visitor = open_dialog(server.url, assistant)
    httpx.post(
        f"{server.url}/api/site/dialogs/{visitor.dialog_id}/messages",
        json={"text": "secret of A's visitor"},
        headers=visitor.headers,
    ).raise_for_status()
    return World(
        server=server,
        owner=owner,
        other_owner=other_owner,
        assistant=assistant,
        spare_assistant=create_assistant(server.url, owner),
        visitor=visitor,
        other_dialog=open_dialog(server.url, assistant),
        foreign=open_dialog(server.url, foreign_assistant),
        rotated_site_token=old_token,
        secret=(server.data_dir / "secret_key").read_text().strip(),
    )


# -- REST ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One REST operation of the schema, with its credential family."""

    method: str
    path: str
    family: str

    @property
    def owned(self) -> bool:
        """True when the route names one of the owner's resources (a dialog, an assistant, a block)."""
        return any(name in self.path for name in ("{dialog_id}", "{assistant_id}", "{block_id}"))


# Cells that would end a session the rest of the matrix needs, or block its visitors' address: with
# any valid operator token for the session routes, with the owner's for blocking. Each route has tests
# of its own (tests/integration/test_hardening_*.py).
DISRUPTIVE = {
    "/api/auth/logout": {"right", "other_owner"},
    "/api/auth/password": {"right", "other_owner"},
    "/api/dialogs/{dialog_id}/block": {"right"},
    "/api/blocks/{block_id}": {"right"},
}


def schema_routes(server: ReplyxProcess) -> list[Route]:
    """Every operation of /openapi.json, the visitor ``{mode}`` routes once per mode."""
    schema = httpx.get(f"{server.url}/openapi.json").json()
    routes: list[Route] = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            headers = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
            if operation.get("security"):
                family = "operator"
            elif "x-guest-token" in headers:
                family = "guest"
            elif path in ("/api/site/dialogs", "/api/widget/dialogs"):
                family = "open_" + path.split("/")[2]
            else:
                family = "public"
            for mode in ("site", "widget") if "{mode}" in path else ("",):
                routes.append(Route(method.upper(), path.replace("{mode}", mode), family))
    return routes


def body_for(world: World, route: Route, kind: str) -> dict[str, Any] | None:
    """A body that is valid apart from the credential, so only the credential decides."""
    if route.method not in ("POST", "PATCH", "PUT"):
        return None
    if route.family == "open_site":
        token = world.site_token(kind)
        return {} if token is None else {"site_token": token}
    if route.family == "open_widget":
        ids = {"none": None, "forged": 99_999_999, "other_owner": world.foreign.assistant_id}
        value = ids.get(kind, world.assistant["id"]) if kind in ids or kind == "right" else world.site_token(kind)
        return {} if value is None else {"assistant_id": value}
    if route.path.endswith("/messages"):
        return {"text": f"matrix {route.path} {kind}", "client_id": uuid.uuid4().hex}
    if route.path == "/api/auth/login":
        return {"email": world.owner.email, "password": world.owner.password}
    if route.path.startswith("/api/assistants"):
        return {"name": "matrix"}
    return {}


def expected_rest(route: Route, kind: str) -> set[int]:
    """The statuses the access rules allow for the route and the kind."""
    ok = {200, 201}
    if route.family == "public":
        return ok  # takes no credential: the same answer whatever is sent
    if route.family == "operator":
        if kind == "right":
            return ok
        # Another owner's object answers as a missing one would.
        return ({404} if route.owned else ok) if kind == "other_owner" else {401}
    if route.family == "guest":
        return ok if kind == "right" else {404}
    if route.family == "open_site":
        return {422} if kind == "none" else ok if kind in ("right", "other_owner") else {401}
    # open_widget: the assistant id is public; a token where an id belongs is not an id.
    return {422} if kind == "none" else ok if kind in ("right", "other_owner") else {401, 422}


def request_for(world: World, route: Route, kind: str) -> dict[str, Any]:
    """Method, URL, headers and body of one cell of the matrix."""
    path = route.path.replace("{dialog_id}", str(world.visitor.dialog_id))
    path = path.replace("{assistant_id}", str(world.spare_assistant["id"]))
    path = path.replace("{block_id}", "1")
    headers: dict[str, str] = {}
    if route.family == "operator" and (token := world.operator_token(kind)):
        headers["Authorization"] = f"Bearer {token}"
    if route.family == "guest" and (guest := world.guest_token(kind)):
        headers["X-Guest-Token"] = guest
    if route.family == "public" and kind != "none":
        headers["Authorization"] = f"Bearer {world.operator_token(kind)}"
    if path.endswith(("/close", "/release", "/takeover")) or path.endswith("/handoff"):
        # State changes get a fresh dialog of owner A, so one cell cannot change another's outcome.
        fresh = open_dialog(world.server.url, world.assistant)
        path = path.replace(f"/{world.visitor.dialog_id}/", f"/{fresh.dialog_id}/")
        if route.family == "guest" and kind == "right":
            headers["X-Guest-Token"] = fresh.guest_token
    if path.startswith("/chat-iframe") or path == "/demo":
        path += f"?assistant_id={world.assistant['id']}"
    body = body_for(world, route, kind)
    return {"method": route.method, "url": world.server.url + path, "headers": headers, "json": body}


def test_rest_matrix(world: World) -> None:
    routes = schema_routes(world.server)
    families = {r.family for r in routes}
    assert {"operator", "guest", "open_site", "open_widget", "public"} <= families, families
    failures: list[str] = []
    cells = 0
    with httpx.Client(timeout=scaled(10)) as http:
        for route in routes:
            for kind in KINDS:
                if kind in DISRUPTIVE.get(route.path, ()):
                    continue
                spec = request_for(world, route, kind)
                if spec["json"] is None:
                    del spec["json"]
                response = http.request(**spec)
                cells += 1
                allowed = expected_rest(route, kind)
                if response.status_code not in allowed:
                    failures.append(f"{route.method} {route.path} [{kind}]: {response.status_code} not in {allowed}")
                    continue
                if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application"):
                    assert response.json().get("detail"), (route, kind)
                if kind != "right" and route.family != "public":
                    # Whatever was let through (other owner's listings, new dialogs) shows nothing of A's dialog.
                    assert "secret of A's visitor" not in response.text, (route, kind)
                    assert world.visitor.guest_token not in response.text, (route, kind)
    record("access_matrix_rest", {"routes": len(routes), "kinds": len(KINDS), "cells": cells})
    assert not failures, "\n".join(failures)


# -- sockets ---------------------------------------------------------------------------------------


def socket_cells(world: World) -> list[tuple[str, str, str, object]]:
    """(pool, kind, url, expected close code or OPEN); kinds with two slots get one cell per slot."""
    d = world.visitor.dialog_id
    base = world.server.ws_url
    cells: list[tuple[str, str, str, object]] = []
    for kind in KINDS:
        token = world.operator_token(kind)
        query = f"?token={token}" if token else ""
        refused = 4004 if kind == "other_owner" else 4001
        cells.append(("admin", kind, f"{base}/ws/dialogs/{d}{query}", OPEN if kind == "right" else refused))
        cells.append(("inbox", kind, f"{base}/ws/dialogs{query}", OPEN if kind in ("right", "other_owner") else 4001))
        # Visitor sockets take two credentials; the kind replaces the one it is about (both for none and
        # other_owner), the other stays right.
        site, guest = world.site_token("right"), world.guest_token("right")
        assistant_id: object = world.assistant["id"]
        if kind == "none":
            site = guest = assistant_id = None
        elif kind == "other_owner":
            site, guest, assistant_id = world.foreign.site_token, world.foreign.guest_token, world.foreign.assistant_id
        elif kind == "rotated_site":
            site = world.rotated_site_token
        elif kind != "right":
            guest = world.guest_token(kind)
        site_expected: object = OPEN if kind == "right" else 4001 if kind in ("none", "rotated_site") else 4004
        widget_expected: object = OPEN if kind in ("right", "rotated_site") else 4001 if kind == "none" else 4004
        params = "&".join(f"{k}={v}" for k, v in (("site_token", site), ("guest_token", guest)) if v)
        cells.append(("site", kind, f"{base}/ws/site/dialogs/{d}?{params}", site_expected))
        params = "&".join(f"{k}={v}" for k, v in (("assistant_id", assistant_id), ("guest_token", guest)) if v)
        cells.append(("widget", kind, f"{base}/ws/widget/dialogs/{d}?{params}", widget_expected))
        if kind in ("forged", "expired", "alg_none"):
            # The same kind in the site token slot, with the right guest token.
            forged_site = world.site_token(kind)
            url = f"{base}/ws/site/dialogs/{d}?site_token={forged_site}&guest_token={world.visitor.guest_token}"
            cells.append(("site", f"{kind} site token", url, 4001))
    return cells


async def outcome(url: str) -> tuple[object, ChatSocket]:
    """OPEN with the socket when it sends `ready`, else the close code."""
    sock = await ChatSocket.connect(url)
    first = asyncio.ensure_future(sock.next(timeout=10))
    closed = asyncio.ensure_future(asyncio.shield(sock.closed))
    done, _ = await asyncio.wait({first, closed}, timeout=scaled(10), return_when=asyncio.FIRST_COMPLETED)
    first.cancel()
    closed.cancel()
    if sock.closed.done():
        return sock.closed.result()[0], sock
    event = first.result() if first in done and not first.cancelled() else {}
    return (OPEN if event.get("type") in ("ready", "message") else event), sock


async def test_socket_matrix(world: World) -> None:
    failures: list[str] = []
    opened: list[tuple[str, str, ChatSocket]] = []
    cells = socket_cells(world)
    for pool, kind, url, expected in cells:
        got, sock = await outcome(url)
        if got != expected:
            failures.append(f"{pool} [{kind}]: {got} != {expected}")
        if got == OPEN:
            opened.append((pool, kind, sock))
        else:
            await sock.close()
    assert not failures, "\n".join(failures)
    # Sockets that were let in see only what their credential grants: a message in A's dialog
    # reaches A's sockets, and never the other owner's inbox.
    text = f"after the matrix {uuid.uuid4().hex}"
    httpx.post(
        f"{world.server.url}/api/site/dialogs/{world.visitor.dialog_id}/messages",
        json={"text": text},
        headers=world.visitor.headers,
    ).raise_for_status()
    for pool, kind, sock in opened:
        if kind != "other_owner":
            assert await _received(sock, text), (pool, kind)
    for pool, kind, sock in opened:
        texts = [m["text"] for m in sock.received_messages()]
        if kind == "other_owner":
            assert text not in texts and "secret of A's visitor" not in texts, pool
        await sock.close()
    record("access_matrix_sockets", {"cells": len(cells), "opened": len(opened)})


async def _received(sock: ChatSocket, text: str) -> bool:
    deadline = asyncio.get_running_loop().time() + scaled(5)
    while asyncio.get_running_loop().time() < deadline:
        if text in [m["text"] for m in sock.received_messages()]:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_enumerating_dialog_ids_with_a_site_token_yields_nothing(world: World) -> None:
    """A valid site token and no guest token: every id answers 404 (4004), existing or not, never a message."""
    last = world.foreign.dialog_id + 5
    site = world.assistant["site_token"]
    with httpx.Client(base_url=world.server.url, timeout=scaled(10)) as http:
        for dialog_id in range(1, last):
            for mode in ("site", "widget"):
                response = http.get(f"/api/{mode}/dialogs/{dialog_id}/messages", params={"site_token": site})
                assert response.status_code == 404, (dialog_id, response.status_code)
                assert "secret of A's visitor" not in response.text
    codes = set()
    for dialog_id in range(1, last):
        for url in (
            f"{world.server.ws_url}/ws/site/dialogs/{dialog_id}?site_token={site}",
            f"{world.server.ws_url}/ws/widget/dialogs/{dialog_id}?assistant_id={world.assistant['id']}",
        ):
            got, sock = await outcome(url)
            await sock.close()
            assert got == 4004, (dialog_id, got)
            assert not sock.received_messages()
            codes.add(got)
    record("enumeration", {"dialog_ids_tried": last - 1, "close_codes": sorted(codes)})
