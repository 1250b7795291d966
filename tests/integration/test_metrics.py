"""Metrics scraped after a scripted session show exactly what the session did."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.support.chat import ChatSocket, create_assistant, create_owner, open_dialog, socket_paths
from tests.support.processes import ROOT, ReplyxProcess


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? ([0-9.e+-]+)$"
    for match in re.finditer(pattern, text, re.MULTILINE):
        found = ",".join(sorted((match.group(1) or "").split(","))) if match.group(1) else ""
        if found == wanted:
            return float(match.group(2))
    return 0.0


async def test_a_scripted_session_shows_in_the_metrics(tmp_path: Path) -> None:
    server = ReplyxProcess(tmp_path).start()
    try:
        owner = create_owner(server)
        visitor = open_dialog(server.url, create_assistant(server.url, owner))
        paths = socket_paths(visitor, owner)
        site = await ChatSocket.connect(server.ws_url + paths["site"])
        admin = await ChatSocket.connect(server.ws_url + paths["admin"])
        await site.ready()
        await admin.ready()
        for i in range(3):
            await site.send_message(f"visitor {i}")
        await admin.send_message("operator answer")
        await site.messages_until(5)  # three visitor messages, the takeover notice, the answer
        refused = await ChatSocket.connect(f"{server.ws_url}/ws/dialogs/{visitor.dialog_id}?token=bad")
        assert await refused.close_code() == 4001
        text = httpx.get(f"{server.url}/metrics").text
        assert sample(text, "replyx_connections", pool="site") == 1
        assert sample(text, "replyx_connects_total", pool="admin") == 1
        assert sample(text, "replyx_messages_stored_total", sender="user") == 3
        assert sample(text, "replyx_messages_stored_total", sender="operator") == 1
        assert sample(text, "replyx_messages_stored_total", sender="system") == 1
        assert sample(text, "replyx_refused_connections_total", pool="admin", code="4001") == 1
        assert sample(text, "replyx_delivery_latency_seconds_count") == 5
        assert sample(text, "replyx_pushes_total") >= 10
        await site.close()
        await admin.close()
        for _ in range(30):
            text = httpx.get(f"{server.url}/metrics").text
            if sample(text, "replyx_connections", pool="site") == 0:
                break
        assert sample(text, "replyx_connections", pool="site") == 0
        assert sample(text, "replyx_disconnects_total", pool="site", code="client") == 1
    finally:
        server.stop()


def test_the_grafana_dashboard_only_uses_metrics_replyx_exports(server: ReplyxProcess) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "replyx.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"replyx_[a-z_]+", target["expr"]))
    exported = set(re.findall(r"^# TYPE (replyx_[a-z_]+) ", httpx.get(f"{server.url}/metrics").text, re.MULTILINE))
    suffixes = ("_bucket", "_count", "_sum")
    missing = {name for name in used if name not in exported and name.removesuffix("_total") not in exported}
    missing = {name for name in missing if not any(name.endswith(s) and name[: -len(s)] in exported for s in suffixes)}
    assert not missing
