"""Access: close codes on sockets and statuses on REST for every kind of wrong credential."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from replyx.domain import auth
from tests.support.chat import ChatSocket, Owner, Visitor, create_assistant, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess


def secret(server: ReplyxProcess) -> str:
    """The server's signing secret (kept in its data directory)."""
    return (server.data_dir / "secret_key").read_text().strip()


async def close_code_of(url: str) -> int | None:
    """Connect and return the code the server closes with (None if it stays open)."""
    sock = await ChatSocket.connect(url)
    try:
        return await sock.close_code(timeout=5)
    except TimeoutError:
        return None
    finally:
        await sock.close()


@pytest.fixture(scope="module")
def setup(server: ReplyxProcess, owner: Owner) -> tuple[Visitor, Visitor, dict[str, object]]:
    """Two dialogs of one assistant."""
    assistant = create_assistant(server.url, owner)
    return open_dialog(server.url, assistant), open_dialog(server.url, assistant), assistant


def operator_tokens(server: ReplyxProcess, owner: Owner) -> dict[str, str]:
    """Every broken kind of operator JWT."""
    key = secret(server)
    claims = jwt.decode(owner.token, options={"verify_signature": False})
    expired = jwt.encode(
        {**claims, "exp": datetime.now(UTC) - timedelta(minutes=5)}, auth._key(key, "operator"), algorithm="HS256"
    )
    return {
        "missing": "",
        "forged": jwt.encode(claims, "not-the-secret", algorithm="HS256"),
        "expired": expired,
        "alg-none": jwt.encode(claims, None, algorithm="none"),
        "garbage": "abc.def.ghi",
    }


async def test_admin_socket_refuses_bad_jwts_with_4001(server: ReplyxProcess, owner: Owner, setup) -> None:
    visitor, _, _ = setup
    for kind, token in operator_tokens(server, owner).items():
        code = await close_code_of(f"{server.ws_url}/ws/dialogs/{visitor.dialog_id}?token={token}")
        assert code == 4001, kind
        assert await close_code_of(f"{server.ws_url}/ws/dialogs?token={token}") == 4001, kind


async def test_admin_socket_of_another_owner_gets_4004_as_an_unknown_dialog_does(
    server: ReplyxProcess, owner: Owner, other_owner: Owner, setup
) -> None:
    visitor, _, _ = setup
    # Not yours and not there answer alike, so dialog ids reveal nothing.
    assert await close_code_of(f"{server.ws_url}/ws/dialogs/{visitor.dialog_id}?token={other_owner.token}") == 4004
    for unknown in ("99999999", "0", "abc", "1e3", "-1", "9" * 30, "٣"):
        assert await close_code_of(f"{server.ws_url}/ws/dialogs/{unknown}?token={owner.token}") == 4004, unknown


async def test_bearer_header_is_accepted_on_admin_socket(server: ReplyxProcess, owner: Owner, setup) -> None:
    visitor, _, _ = setup
    sock = await ChatSocket.connect(
        f"{server.ws_url}/ws/dialogs/{visitor.dialog_id}", additional_headers={"Authorization": f"Bearer {owner.token}"}
    )
    assert (await sock.ready())["dialog_id"] == visitor.dialog_id
    await sock.close()


async def test_visitor_sockets_need_this_dialogs_guest_token(server: ReplyxProcess, owner: Owner, setup) -> None:
    visitor, other, _ = setup
    d = visitor.dialog_id
    site = f"{server.ws_url}/ws/site/dialogs/{d}?site_token={visitor.site_token}"
    widget = f"{server.ws_url}/ws/widget/dialogs/{d}?assistant_id={visitor.assistant_id}"
    for base in (site, widget):
        # Without this dialog's guest token the dialog is as good as missing: 4004, never 4003.
        assert await close_code_of(base) == 4004
        assert await close_code_of(f"{base}&guest_token={other.guest_token}") == 4004
        assert await close_code_of(f"{base}&guest_token=forged.guest.token") == 4004
        assert await close_code_of(f"{base}&guest_token={visitor.guest_token}") is None
    assert await close_code_of(f"{server.ws_url}/ws/site/dialogs/{d}?guest_token={visitor.guest_token}") == 4001
    assert await close_code_of(f"{server.ws_url}/ws/widget/dialogs/{d}?guest_token={visitor.guest_token}") == 4001
    unknown = f"{server.ws_url}/ws/site/dialogs/99999999?site_token={visitor.site_token}&guest_token=x"
    assert await close_code_of(unknown) == 4004


async def test_a_rotated_site_token_gets_4001_and_401(server: ReplyxProcess, owner: Owner) -> None:
    assistant = create_assistant(server.url, owner)
    visitor = open_dialog(server.url, assistant)
    rotated = httpx.post(f"{server.url}/api/assistants/{assistant['id']}/rotate-token", headers=owner.headers).json()
    assert rotated["site_token"] != visitor.site_token
    old = socket_paths(visitor, owner)["site"]
    assert await close_code_of(server.ws_url + old) == 4001
    new = old.replace(visitor.site_token, rotated["site_token"])
    assert await close_code_of(server.ws_url + new) is None
    response = httpx.post(f"{server.url}/api/site/dialogs", json={"site_token": visitor.site_token})
    assert response.status_code == 401 and response.json()["detail"]


def test_rest_routes_answer_401_or_404_for_what_is_not_yours(
    server: ReplyxProcess, owner: Owner, other_owner: Owner, setup
) -> None:
    visitor, other, _ = setup
    d = visitor.dialog_id
    with httpx.Client(base_url=server.url) as http:
        for kind, token in operator_tokens(server, owner).items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = http.get("/api/dialogs", headers=headers)
            assert response.status_code == 401, kind
            assert response.json()["detail"]
        assert http.get(f"/api/dialogs/{d}/messages", headers=other_owner.headers).status_code == 404
        assert http.post(f"/api/dialogs/{d}/takeover", headers=other_owner.headers).status_code == 404
        assert http.get("/api/dialogs/99999999/messages", headers=owner.headers).status_code == 404
        assert http.get(f"/api/site/dialogs/{d}/messages").status_code == 404
        assert http.get(f"/api/site/dialogs/{d}/messages", headers=other.headers).status_code == 404
        assert (
            http.post(f"/api/widget/dialogs/{d}/messages", json={"text": "x"}, headers=other.headers).status_code == 404
        )
        assert http.get("/api/site/dialogs/99999999/messages", headers=visitor.headers).status_code == 404
        assert http.get(f"/api/site/dialogs/{d}/messages", headers=visitor.headers).status_code == 200
        assert http.post("/api/auth/login", json={"email": owner.email, "password": "wrong"}).status_code == 401
        assert http.get("/api/assistants").status_code == 401


def test_disallowed_origin_is_refused(server: ReplyxProcess, owner: Owner) -> None:
    assistant = create_assistant(server.url, owner, allowed_domains=["shop.example"])
    body = {"site_token": assistant["site_token"]}
    refused = httpx.post(f"{server.url}/api/site/dialogs", json=body, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    allowed = httpx.post(f"{server.url}/api/site/dialogs", json=body, headers={"Origin": "https://www.shop.example"})
    assert allowed.status_code == 200


async def test_disallowed_origin_socket_gets_4003(server: ReplyxProcess, owner: Owner) -> None:
    assistant = create_assistant(server.url, owner, allowed_domains=["shop.example"])
    visitor = open_dialog(server.url, assistant)
    url = server.ws_url + socket_paths(visitor, owner)["site"]
    sock = await ChatSocket.connect(url, origin="https://evil.example")
    assert await sock.close_code() == 4003
    good = await ChatSocket.connect(url, origin="https://shop.example")
    await good.ready()
    await good.close()
