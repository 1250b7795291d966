"""Waiting for what the assistant does, on sockets, over REST and in the server log."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.chat import ChatSocket, Visitor
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled


async def events_until(
    sock: ChatSocket, done: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Every event the socket receives up to and including the first one ``done`` accepts."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while True:
        left = deadline - asyncio.get_running_loop().time()
        event = await sock.next(timeout=max(left, 0.01))
        seen.append(event)
        if done(event):
            return seen


def assistant_message(event: dict[str, Any]) -> bool:
    """True for a stored message of the assistant."""
    return event["type"] == "message" and event["message"]["sender"] == "assistant"


def status_is(status: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate for the `status` event announcing this status."""
    return lambda event: event["type"] == "status" and event["status"] == status


async def stored_messages(base_url: str, visitor: Visitor) -> dict[str, Any]:
    """The dialog's status and stored messages, as the visitor's REST API shows them."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{base_url}/api/site/dialogs/{visitor.dialog_id}/messages", headers=visitor.headers)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


async def wait_for_reply(
    base_url: str, visitor: Visitor, after_seq: int, timeout: float = 10.0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first assistant message stored after ``after_seq``, with the dialog as it was then."""
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while asyncio.get_running_loop().time() < deadline:
        dialog = await stored_messages(base_url, visitor)
        for message in dialog["messages"]:
            if message["seq"] > after_seq and message["sender"] == "assistant":
                return message, dialog
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no assistant reply in dialog {visitor.dialog_id} after seq {after_seq}")


async def wait_for_log(server: ReplyxProcess, text: str, timeout: float = 10.0) -> str:
    """The first server log line containing ``text``."""
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while asyncio.get_running_loop().time() < deadline:
        for line in server.log().splitlines():
            if text in line:
                return line
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the server never logged {text!r}")


async def post_visitor_message(
    base_url: str, visitor: Visitor, text: str, http: httpx.AsyncClient | None = None
) -> dict[str, Any]:
    """Send a visitor message over REST; returns the stored message (it never waits for an answer)."""
    async with contextlib.AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(httpx.AsyncClient())
        response = await http.post(
            f"{base_url}/api/site/dialogs/{visitor.dialog_id}/messages", json={"text": text}, headers=visitor.headers
        )
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


async def open_dialogs(base_url: str, assistant: dict[str, Any], count: int) -> list[Visitor]:
    """Many visitors open dialogs at once, over one HTTP client."""
    async with httpx.AsyncClient() as http:
        responses = await asyncio.gather(
            *(
                http.post(f"{base_url}/api/site/dialogs", json={"site_token": assistant["site_token"]})
                for _ in range(count)
            )
        )
    visitors = []
    for response in responses:
        response.raise_for_status()
        data = response.json()
        visitors.append(
            Visitor(data["dialog_id"], data["guest_id"], data["guest_token"], assistant["site_token"], assistant["id"])
        )
    return visitors


async def wait_for_status(base_url: str, visitor: Visitor, status: str, timeout: float = 10.0) -> None:
    """Return once the dialog is in this status."""
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while asyncio.get_running_loop().time() < deadline:
        if (await stored_messages(base_url, visitor))["status"] == status:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"dialog {visitor.dialog_id} never reached {status!r}")
