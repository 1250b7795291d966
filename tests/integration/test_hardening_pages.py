"""What a server reached without nginx shows to anyone: security headers, no API map, no metrics, no tenant data."""

from __future__ import annotations

import httpx

from tests.support.chat import ChatSocket, Owner, create_assistant, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess

# CSP sources that would let an injected script run.
UNSAFE = ("'unsafe-inline'", "'unsafe-eval'", "*")


def script_policy(csp: str) -> str:
    """The script-src directive of a policy (default-src when it has none)."""
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    return directives.get("script-src", directives.get("default-src", ""))


def test_every_html_page_has_a_strict_policy_and_the_panel_cannot_be_framed(
    server: ReplyxProcess, owner: Owner
) -> None:
    assistant = create_assistant(server.url, owner)
    pages = {
        "/admin": "frame-ancestors 'none'",
        "/demo": "frame-ancestors 'self'",
        f"/chat-iframe?site_token={assistant['site_token']}": "frame-ancestors",
    }
    for path, framing in pages.items():
        response = httpx.get(server.url + path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert framing in csp, (path, csp)
        assert not any(source in script_policy(csp).split() for source in UNSAFE), (path, csp)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert "<script>" not in response.text and " style=" not in response.text, path
    assert httpx.get(f"{server.url}/admin").headers["x-frame-options"] == "DENY"
    # JSON answers carry the defaults too.
    assert httpx.get(f"{server.url}/health").headers["x-content-type-options"] == "nosniff"


def test_the_demo_takes_no_address_from_the_host_header(server: ReplyxProcess) -> None:
    page = httpx.get(f"{server.url}/demo", headers={"Host": "evil.example"}).text
    assert "evil.example" not in page
    assert 'src="/widget.js"' in page or "No demo assistant yet" in page


def test_api_docs_and_metrics_are_not_public(server: ReplyxProcess) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(server.url + path).status_code == 404, path
    assert httpx.get(f"{server.url}/metrics").status_code == 200, "loopback may read the metrics"
    elsewhere = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    assert elsewhere.get(f"{server.url}/metrics").status_code == 404
    elsewhere.close()


def test_an_assistant_limited_to_its_domains_shows_nothing_to_a_page_counting_ids(
    server: ReplyxProcess, owner: Owner
) -> None:
    assistant = create_assistant(server.url, owner, allowed_domains=["shop.example"], greeting="Private greeting")
    by_id = f"{server.url}/chat-iframe?assistant_id={assistant['id']}"
    for origin in ("", "https://evil.example"):
        page = httpx.get(by_id + (f"&origin={origin}" if origin else ""))
        assert page.status_code == 404 and "Private greeting" not in page.text
        assert assistant["name"] not in page.text
        # Even the refusal may be framed only by the assistant's domains.
        assert "frame-ancestors 'self' shop.example *.shop.example" in page.headers["content-security-policy"]
    embedded = httpx.get(f"{by_id}&origin=https://www.shop.example")
    assert embedded.status_code == 200 and "Private greeting" in embedded.text
    # The demo shows only assistants any site may embed.
    assert "data-assistant-id" not in httpx.get(f"{server.url}/demo?assistant_id={assistant['id']}").text


async def test_socket_stats_show_only_the_operators_own_sockets(
    server: ReplyxProcess, owner: Owner, other_owner: Owner
) -> None:
    visitor = open_dialog(server.url, create_assistant(server.url, other_owner))
    theirs = await ChatSocket.connect(server.ws_url + socket_paths(visitor, other_owner)["site"])
    await theirs.ready()
    stats = httpx.get(f"{server.url}/api/ws/stats", headers=owner.headers).json()
    for node in stats["nodes"]:
        assert str(visitor.dialog_id) not in node["dialogs"]
    assert str(visitor.dialog_id) not in stats["total"]["dialogs"]
    mine = httpx.get(f"{server.url}/api/ws/stats", headers=other_owner.headers).json()
    assert mine["total"]["pools"]["site"] >= 1
    await theirs.close()
