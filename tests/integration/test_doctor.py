"""`replyx doctor` against real deployments behind nginx: healthy, and each failure it should name."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.chat import Owner, create_assistant, create_owner
from tests.support.processes import ROOT, ReplyxProcess
from tests.support.services import Nginx
from tests.support.timing import scaled

SHOP = "https://shop.example"


def doctor(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    """Run `replyx doctor --json`; returns the exit code and the parsed report."""
    done = subprocess.run(
        [sys.executable, "-m", "replyx", "doctor", url, "--json", "--timeout", str(scaled(5)), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(120),
    )
    return done.returncode, json.loads(done.stdout)


def step(report: dict[str, Any], number: int) -> dict[str, Any]:
    """One step of a report."""
    return next(s for s in report["steps"] if s["number"] == number)


def proxy(directory: Path, binary: str, upstreams: list[int], breakage: str = "", **directives: str) -> Nginx:
    """nginx running the project's config (optionally broken the way users break it) before the backends."""
    nginx = Nginx(directory, binary, upstreams, directives=directives or None)
    rendered = nginx.conf_path.read_text()
    if breakage == "no /ws/ location":
        rendered = re.sub(r"\n\s*location /ws/ \{.*?\n\s{8}\}\n", "\n", rendered, count=1, flags=re.DOTALL)
        assert "location /ws/" not in rendered
    elif breakage == "no upgrade headers":
        rendered = re.sub(r"\n\s*proxy_set_header (Upgrade|Connection \$connection_upgrade)[^;]*;", "", rendered)
        assert "$http_upgrade;" not in rendered
    nginx.conf_path.write_text(rendered)
    nginx.check()
    return nginx.start()


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplyxProcess]:
    """One replyx that trusts the local nginx."""
    process = ReplyxProcess(tmp_path_factory.mktemp("doctor"), env={"REPLYX_TRUSTED_PROXIES": "127.0.0.1"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def shop(backend: ReplyxProcess) -> tuple[Owner, dict[str, Any]]:
    """An owner and an assistant that may be embedded on the shop's domain."""
    owner = create_owner(backend)
    return owner, create_assistant(backend.url, owner, allowed_domains=["shop.example"])


def test_a_healthy_deployment_passes_every_step(
    backend: ReplyxProcess, shop: tuple[Owner, dict[str, Any]], nginx_binary: str, tmp_path: Path
) -> None:
    owner, assistant = shop
    nginx = proxy(tmp_path / "nginx", nginx_binary, [backend.port])
    try:
        code, report = doctor(
            nginx.url, "--site-token", assistant["site_token"], "--token", owner.token, "--hold", "2", "--origin", SHOP
        )
    finally:
        nginx.stop()
    assert [s["status"] for s in report["steps"]] == ["pass"] * 6, report
    assert code == 0 and report["ok"]
    assert step(report, 3)["details"]["latency_ms"][1] is not None  # the admin socket got it too


def test_a_proxy_without_the_websocket_location_fails_at_step_2(
    backend: ReplyxProcess, shop: tuple[Owner, dict[str, Any]], nginx_binary: str, tmp_path: Path
) -> None:
    nginx = proxy(tmp_path / "nginx", nginx_binary, [backend.port], "no /ws/ location")
    try:
        code, report = doctor(nginx.url, "--site-token", shop[1]["site_token"])
    finally:
        nginx.stop()
    upgrade = step(report, 2)
    assert code == 1 and upgrade["status"] == "fail"
    assert "no WebSocket location" in upgrade["cause"]
    assert "location /ws/" in upgrade["fix"] and "proxy_set_header Upgrade" in upgrade["fix"]


def test_a_proxy_dropping_the_upgrade_headers_is_named(
    backend: ReplyxProcess, shop: tuple[Owner, dict[str, Any]], nginx_binary: str, tmp_path: Path
) -> None:
    nginx = proxy(tmp_path / "nginx", nginx_binary, [backend.port], "no upgrade headers")
    try:
        code, report = doctor(nginx.url, "--site-token", shop[1]["site_token"])
    finally:
        nginx.stop()
    upgrade = step(report, 2)
    assert code == 1 and upgrade["status"] == "fail"
    assert "Upgrade/Connection" in upgrade["cause"]
    assert "proxy_http_version 1.1" in upgrade["fix"]


def test_a_proxy_timeout_shorter_than_the_hold_fails_the_heartbeat_step(
    backend: ReplyxProcess, shop: tuple[Owner, dict[str, Any]], nginx_binary: str, tmp_path: Path
) -> None:
    nginx = proxy(
        tmp_path / "nginx",
        nginx_binary,
        [backend.port],
        proxy_read_timeout="2s",
        proxy_send_timeout="2s",
    )
    try:
        code, report = doctor(nginx.url, "--site-token", shop[1]["site_token"], "--hold", str(scaled(5)))
    finally:
        nginx.stop()
    heartbeat = step(report, 5)
    assert code == 1 and heartbeat["status"] == "fail", report
    assert "proxy_read_timeout" in heartbeat["cause"] + heartbeat["fix"]
    assert [s["status"] for s in report["steps"][:4]] == ["pass"] * 4


def test_two_backends_with_in_memory_brokers_fail_the_multi_process_check(nginx_binary: str, tmp_path: Path) -> None:
    shared = tmp_path / "data"
    backends = [ReplyxProcess(shared, env={"REPLYX_TRUSTED_PROXIES": "127.0.0.1"}) for _ in range(2)]
    backends[0].start()
    backends[1].start()
    nginx = None
    try:
        owner = create_owner(backends[0])
        assistant = create_assistant(backends[0].url, owner)
        nginx = proxy(tmp_path / "nginx", nginx_binary, [b.port for b in backends])
        assert httpx.get(f"{nginx.url}/health").status_code == 200
        code, report = doctor(nginx.url, "--site-token", assistant["site_token"], "--sockets", "8")
    finally:
        if nginx:
            nginx.stop()
        for b in backends:
            b.stop()
    multi = step(report, 4)
    assert code == 1 and multi["status"] == "fail", report
    assert "in-memory pools behind several workers" in multi["cause"]
    assert "REPLYX_BROKER_URL" in multi["fix"]
    assert len(multi["details"]["nodes_seen"]) == 2
