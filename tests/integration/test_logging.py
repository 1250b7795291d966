"""JSON logs: one object per line, the greppable phrases inside, no token anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.support.chat import ChatSocket, create_assistant, create_owner, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess


async def test_json_log_lines_parse_and_never_carry_a_token(tmp_path: Path) -> None:
    server = ReplyxProcess(tmp_path, env={"REPLYX_LOG_FORMAT": "json"}).start()
    try:
        owner = create_owner(server)
        visitor = open_dialog(server.url, create_assistant(server.url, owner))
        paths = socket_paths(visitor, owner)
        site = await ChatSocket.connect(server.ws_url + paths["site"])
        await site.ready()
        await site.send_message("hello")
        await site.next(type="message")
        refused = await ChatSocket.connect(f"{server.ws_url}/ws/dialogs/{visitor.dialog_id}?token={owner.token}x")
        assert await refused.close_code() == 4001
        httpx.get(f"{server.url}/api/dialogs", headers={"Authorization": f"Bearer {owner.token}"})
        await site.close()
        lines = [line for line in server.log().splitlines() if line.startswith("{")]
    finally:
        server.stop()
    records = [json.loads(line) for line in lines]
    messages = [r["message"] for r in records]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert f"[Site] WebSocket accepted for dialog {visitor.dialog_id}" in messages
    assert any(m.startswith(f"Push to dialog {visitor.dialog_id}:") for m in messages)
    assert any("token=***" in m for m in messages)
    text = "\n".join(lines)
    for secret in (owner.token, visitor.guest_token, visitor.site_token):
        assert secret not in text
