"""One anonymous machine cannot bury real visitors: per-address limits, waiting visitors first, blocking.

A server of this module keeps the default visitor limits (the shared test servers
lift them, their traffic all coming from 127.0.0.1). Other visitor addresses are
loopback aliases (127.0.0.2 and up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.chat import ChatSocket, Owner, Visitor, create_assistant, create_owner, socket_paths
from tests.support.processes import ReplyxProcess

DEFAULTS = {
    "REPLYX_DIALOGS_PER_ADDRESS": "20",
    "REPLYX_DIALOGS_PER_ASSISTANT": "1000",
    "REPLYX_HANDOFFS_PER_ADDRESS": "5",
    "REPLYX_VISITOR_ADDRESS_RATE_LIMIT": "40",
}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplyxProcess]:
    """A server with the default visitor limits."""
    process = ReplyxProcess(tmp_path_factory.mktemp("desk"), env=DEFAULTS)
    process.start()
    yield process
    process.stop()


def visitor_client(address: str, base_url: str) -> httpx.AsyncClient:
    """A visitor's HTTP client from ``address``."""
    return httpx.AsyncClient(base_url=base_url, transport=httpx.AsyncHTTPTransport(local_address=address))


async def open_site_dialog(http: httpx.AsyncClient, site_token: str, **extra: Any) -> httpx.Response:
    return await http.post("/api/site/dialogs", json={"site_token": site_token, **extra})


def as_visitor(opened: dict[str, Any], assistant: dict[str, Any]) -> Visitor:
    return Visitor(
        dialog_id=opened["dialog_id"],
        guest_id=opened["guest_id"],
        guest_token=opened["guest_token"],
        site_token=assistant["site_token"],
        assistant_id=assistant["id"],
    )


async def test_new_dialogs_are_limited_per_address_and_a_second_address_is_unaffected(desk: ReplyxProcess) -> None:
    owner = create_owner(desk, "dialogs")
    assistant = create_assistant(desk.url, owner)
    async with visitor_client("127.0.0.2", desk.url) as spam, visitor_client("127.0.0.3", desk.url) as real:
        answers = [await open_site_dialog(spam, assistant["site_token"]) for _ in range(22)]
        assert [a.status_code for a in answers[:20]] == [200] * 20
        refused = answers[20]
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "per hour" in refused.json()["detail"]
        # Resuming a dialog one already has costs nothing.
        first = answers[0].json()
        again = await open_site_dialog(
            spam, assistant["site_token"], guest_id=first["guest_id"], guest_token=first["guest_token"]
        )
        assert again.status_code == 200 and again.json()["dialog_id"] == first["dialog_id"]
        assert (await open_site_dialog(real, assistant["site_token"])).status_code == 200


async def test_handoffs_and_messages_are_limited_per_address_across_dialogs(desk: ReplyxProcess) -> None:
    owner = create_owner(desk, "handoffs")
    assistant = create_assistant(desk.url, owner)
    async with visitor_client("127.0.0.4", desk.url) as spam, visitor_client("127.0.0.5", desk.url) as real:
        opened = [(await open_site_dialog(spam, assistant["site_token"])).json() for _ in range(7)]
        codes = []
        for dialog in opened:
            url = f"/api/site/dialogs/{dialog['dialog_id']}/handoff"
            codes.append((await spam.post(url, headers={"X-Guest-Token": dialog["guest_token"]})).status_code)
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
        # 40 messages per 10 s from one address, however many dialogs they are spread over.
        sent = []
        for n in range(50):
            dialog = opened[n % len(opened)]
            url = f"/api/site/dialogs/{dialog['dialog_id']}/messages"
            answer = await spam.post(url, json={"text": f"spam {n}"}, headers={"X-Guest-Token": dialog["guest_token"]})
            sent.append(answer.status_code)
        assert sent.count(201) == 40 and sent.count(429) == 10
        mine = (await open_site_dialog(real, assistant["site_token"])).json()
        url = f"/api/site/dialogs/{mine['dialog_id']}"
        headers = {"X-Guest-Token": mine["guest_token"]}
        assert (await real.post(f"{url}/messages", json={"text": "hello"}, headers=headers)).status_code == 201
        assert (await real.post(f"{url}/handoff", headers=headers)).status_code == 200


async def test_typing_and_read_frames_are_limited_per_socket(desk: ReplyxProcess) -> None:
    owner = create_owner(desk, "frames")
    assistant = create_assistant(desk.url, owner)
    async with visitor_client("127.0.0.6", desk.url) as http:
        visitor = as_visitor((await open_site_dialog(http, assistant["site_token"])).json(), assistant)
    paths = socket_paths(visitor, owner)
    admin = await ChatSocket.connect(desk.ws_url + paths["admin"])
    site = await ChatSocket.connect(desk.ws_url + paths["site"])
    await asyncio.gather(admin.ready(), site.ready())
    for _ in range(150):
        await site.send_json({"type": "typing", "state": "start"})
    await site.send_message("after the flood")
    # The message still goes through (only typing and read frames are limited), after every frame.
    await admin.messages_until((await site.next(type="message"))["message"]["seq"])
    typing = [e for e in admin.all_events if e["type"] == "typing"]
    refused = [e for e in site.all_events if e["type"] == "error" and e["code"] == "rate_limited"]
    assert len(typing) == 30 and len(refused) == 120
    await admin.close()
    await site.close()


async def test_waiting_visitors_list_first_whatever_the_spam_and_the_list_pages(desk: ReplyxProcess) -> None:
    owner = create_owner(desk, "inbox")
    assistant = create_assistant(desk.url, owner)
    async with visitor_client("127.0.0.7", desk.url) as real:
        genuine = (await open_site_dialog(real, assistant["site_token"])).json()
        url = f"/api/site/dialogs/{genuine['dialog_id']}/handoff"
        assert (await real.post(url, headers={"X-Guest-Token": genuine["guest_token"]})).status_code == 200
    spam_ids = []
    for n in range(13):  # 13 addresses x 20 dialogs: 260 newer dialogs
        async with visitor_client(f"127.0.1.{n + 1}", desk.url) as spam:
            for _ in range(20):
                spam_ids.append((await open_site_dialog(spam, assistant["site_token"])).json()["dialog_id"])
    async with httpx.AsyncClient(base_url=desk.url) as http:
        first_page = (await http.get("/api/dialogs", params={"limit": 50}, headers=owner.headers)).json()
        assert first_page[0]["id"] == genuine["dialog_id"] and first_page[0]["status"] == "requested"
        assert len(first_page) == 50
        pages = [first_page]
        while len(pages[-1]) == 50:
            page = await http.get(
                "/api/dialogs", params={"limit": 50, "offset": 50 * len(pages)}, headers=owner.headers
            )
            pages.append(page.json())
        listed = [d["id"] for page in pages for d in page]
        assert sorted(listed) == sorted([genuine["dialog_id"], *spam_ids]), "every dialog once across the pages"


async def test_blocking_a_visitor_closes_their_dialogs_and_refuses_new_ones(desk: ReplyxProcess) -> None:
    owner = create_owner(desk, "blocker")
    assistant = create_assistant(desk.url, owner)
    async with visitor_client("127.0.0.8", desk.url) as spam, visitor_client("127.0.0.9", desk.url) as real:
        spammy = [(await open_site_dialog(spam, assistant["site_token"])).json() for _ in range(3)]
        mine = (await open_site_dialog(real, assistant["site_token"])).json()
        async with httpx.AsyncClient(base_url=desk.url) as http:
            blocked = await http.post(f"/api/dialogs/{spammy[0]['dialog_id']}/block", headers=owner.headers)
            assert blocked.status_code == 200
            assert blocked.json()["closed"] == sorted(d["dialog_id"] for d in spammy)
            assert {b["kind"] for b in blocked.json()["blocked"]} == {"guest", "address"}
            listed = {d["id"]: d["status"] for d in (await http.get("/api/dialogs", headers=owner.headers)).json()}
            assert all(listed[d["dialog_id"]] == "closed" for d in spammy) and listed[mine["dialog_id"]] == "ai"
            refused = await open_site_dialog(spam, assistant["site_token"])
            assert refused.status_code == 403 and refused.json()["detail"] == "this visitor is blocked"
            assert (await open_site_dialog(real, assistant["site_token"])).status_code == 200
            # Another owner's operators cannot see or lift the block.
            other = create_owner(desk, "stranger")
            assert (await http.get("/api/blocks", headers=other.headers)).json() == []
            blocks = (await http.get("/api/blocks", headers=owner.headers)).json()
            for block in blocks:
                assert (await http.delete(f"/api/blocks/{block['id']}", headers=other.headers)).status_code == 404
                assert (await http.delete(f"/api/blocks/{block['id']}", headers=owner.headers)).status_code == 204
            assert (await open_site_dialog(spam, assistant["site_token"])).status_code == 200


async def test_knowing_a_guest_id_is_not_enough_to_act_as_that_visitor(desk: ReplyxProcess) -> None:
    owner: Owner = create_owner(desk, "impersonated")
    assistant = create_assistant(desk.url, owner)
    async with visitor_client("127.0.0.10", desk.url) as victim, visitor_client("127.0.0.11", desk.url) as attacker:
        real = (await open_site_dialog(victim, assistant["site_token"])).json()
        url = f"/api/site/dialogs/{real['dialog_id']}/messages"
        await victim.post(url, json={"text": "my order number is 1234"}, headers={"X-Guest-Token": real["guest_token"]})
        # The operator's panel shows the guest id in full; an attacker who read it tries to resume.
        stolen = await open_site_dialog(attacker, assistant["site_token"], guest_id=real["guest_id"])
        assert stolen.status_code == 200
        assert stolen.json()["dialog_id"] != real["dialog_id"] and stolen.json()["guest_id"] != real["guest_id"]
        forged = await open_site_dialog(
            attacker, assistant["site_token"], guest_id=real["guest_id"], guest_token=stolen.json()["guest_token"]
        )
        assert forged.json()["dialog_id"] != real["dialog_id"]
        assert (await attacker.get(url, headers={"X-Guest-Token": stolen.json()["guest_token"]})).status_code == 404
        # The visitor, with their token, gets their dialog back.
        back = await open_site_dialog(
            victim, assistant["site_token"], guest_id=real["guest_id"], guest_token=real["guest_token"]
        )
        assert back.json()["dialog_id"] == real["dialog_id"] and back.json()["guest_id"] == real["guest_id"]
