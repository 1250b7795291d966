"""The command line refuses unsafe setups; logs carry the greppable lines and never a token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.chat import ChatSocket, Owner, create_assistant, open_dialog, socket_paths
from tests.support.processes import ROOT, ReplyxProcess


def test_several_workers_with_the_memory_broker_are_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "replyx", "serve", "--workers", "2", "--port", "0"],
        env={"REPLYX_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "REPLYX_BROKER_URL" in done.stderr and "in-memory broker" in done.stderr


def test_admin_and_assistant_commands_script_a_fresh_instance(tmp_path: Path) -> None:
    process = ReplyxProcess(tmp_path)
    process.cli("admin", "create", "--email", "boss@example.test", "--password", "long-enough-password")
    out = process.cli("assistant", "create", "--owner", "boss@example.test", "--name", "Shop")
    assert "assistant_id=" in out and "site_token=" in out
    process.start()
    try:
        token = httpx.post(
            f"{process.url}/api/auth/login", json={"email": "boss@example.test", "password": "long-enough-password"}
        ).json()["access_token"]
        names = [
            a["name"]
            for a in httpx.get(f"{process.url}/api/assistants", headers={"Authorization": f"Bearer {token}"}).json()
        ]
        assert names == ["Shop"]
    finally:
        process.stop()


async def test_connection_and_push_lines_appear_and_no_token_is_logged(server: ReplyxProcess, owner: Owner) -> None:
    assistant = create_assistant(server.url, owner)
    visitor = open_dialog(server.url, assistant)
    paths = socket_paths(visitor, owner)
    admin = await ChatSocket.connect(server.ws_url + paths["admin"])
    await admin.ready()
    await admin.send_message("nobody from the site is here")
    await admin.next(type="message")
    site = await ChatSocket.connect(server.ws_url + paths["site"])
    await site.ready()
    widget = await ChatSocket.connect(server.ws_url + paths["widget"])
    await widget.ready()
    inbox = await ChatSocket.connect(server.ws_url + paths["inbox"])
    await inbox.ready()
    httpx.get(f"{server.url}/api/dialogs", headers=owner.headers)
    for sock in (site, widget, admin, inbox):
        await sock.close()
    d = visitor.dialog_id
    log = server.log()
    for line in (
        f"[Admin] WebSocket connection attempt for dialog {d}",
        f"[Admin] WebSocket accepted for dialog {d}",
        f"[Site] WebSocket accepted for dialog {d}",
        f"[Widget] WebSocket accepted for dialog {d}",
        f"[Admin] Total connections for dialog {d}: 1",
        f"[Site] Total connections for dialog {d}: 2",
        f"Push to dialog {d}: 1 connections",
        f"No SITE/WIDGET WebSocket connections found for dialog {d}",
        "Available SITE/WIDGET dialogs: [",
        "[Inbox] WebSocket accepted",
    ):
        assert line in log, line
    for _ in range(50):
        if f"Remaining connections for dialog {d}: 0" in server.log():
            break
        await __import__("asyncio").sleep(0.1)
    log = server.log()
    assert f"Remaining connections for dialog {d}: 0" in log
    for secret in (owner.token, visitor.guest_token, visitor.site_token, owner.password):
        assert secret not in log
    assert "token=***" in log
