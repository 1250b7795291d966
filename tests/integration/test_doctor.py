"""`replyx doctor` against real deployments behind nginx: healthy, and each failure it should name."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from replyx.diagnostics import nginx as shipped
from tests.support.chat import Owner, create_assistant, create_owner
from tests.support.processes import ROOT, ReplyxProcess, free_port
from tests.support.services import NGINX_CONF, Nginx
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


def doctor_text(url: str, *args: str) -> tuple[int, str]:
    """Run `replyx doctor` as a person would; returns the exit code and what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "replyx", "doctor", url, "--timeout", str(scaled(5)), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(120),
        # Wide enough that no line of the printed nginx config is wrapped.
        env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"},
    )
    return done.returncode, done.stdout


def websocket_location(conf: str) -> str:
    """The `location /ws/ { ... }` block of an nginx config, found without the doctor's own parser."""
    match = re.search(r"^( *)location /ws/ \{\n.*?^\1\}$", conf, re.MULTILINE | re.DOTALL)
    assert match, "the nginx config has no /ws/ location"
    return match.group(0)


def directive_lines(block: str) -> list[str]:
    """The directives of a block, one a line, without comments or indentation."""
    lines = (line.split("#", 1)[0].strip() for line in block.splitlines()[1:-1])
    return [line for line in lines if line]


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
    # The advice is the shipped file's /ws/ location, line for line, comments included.
    shipped_location = websocket_location(NGINX_CONF.read_text())
    indent = len(shipped_location) - len(shipped_location.lstrip(" "))
    dedented = "\n".join(line[indent:] for line in shipped_location.splitlines())
    assert dedented in upgrade["fix"]
    assert "deploy/nginx/nginx.conf" in upgrade["fix"]
    assert [s["status"] for s in report["steps"][2:5]] == ["skip"] * 3


def test_the_printed_nginx_advice_is_the_shipped_location_and_its_maps(
    backend: ReplyxProcess, shop: tuple[Owner, dict[str, Any]], nginx_binary: str, tmp_path: Path
) -> None:
    nginx = proxy(tmp_path / "nginx", nginx_binary, [backend.port], "no /ws/ location")
    try:
        code, printed = doctor_text(nginx.url, "--site-token", shop[1]["site_token"])
    finally:
        nginx.stop()
    assert code == 1
    assert "FAIL 2. websocket upgrade: upgrade answers: inbox 404" in printed
    assert "SKIP 3. round trip: WebSocket upgrades fail (step 2); fix that first" in printed
    conf = NGINX_CONF.read_text()
    for line in directive_lines(websocket_location(conf)):
        assert line in printed, line
    # The variables the location uses are defined by maps in the http section: printed with it.
    for variable in ("$connection_upgrade", "$forwarded_host"):
        assert f" {variable} {{" in printed
        assert f"{variable};" in websocket_location(conf)


def test_the_advice_alone_makes_a_valid_nginx_config(nginx_binary: str, tmp_path: Path) -> None:
    advice = shipped.websocket_location_advice()
    maps, _, rest = advice.partition("In the server section")
    location = rest[rest.index("location /ws/") : rest.rindex("}") + 1]
    maps_only = maps[maps.index("\n") + 1 :]
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
        f"access_log off;\n{maps_only}\nupstream backend_up {{ server 127.0.0.1:{free_port()}; }}\n"
        f"server {{\nlisten 127.0.0.1:{free_port()};\n{location}\n}}\n}}\n"
    )
    done = subprocess.run(
        [nginx_binary, "-p", str(tmp_path), "-c", str(conf), "-e", "stderr", "-t"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert done.returncode == 0, done.stderr


def test_the_upgrade_header_and_timeout_advice_come_from_the_shipped_location() -> None:
    location = directive_lines(websocket_location(NGINX_CONF.read_text()))
    advice = shipped.upgrade_headers_advice()
    upgrade = [d for d in location if d.startswith(("proxy_http_version", "proxy_set_header Upgrade"))]
    upgrade += [d for d in location if d.startswith("proxy_set_header Connection")]
    assert len(upgrade) == 3
    for directive in upgrade:
        assert directive.rstrip(";") in advice
    assert "map $http_upgrade $connection_upgrade {" in advice
    assert f"proxy_read_timeout {shipped.websocket_timeout()};" in location


def test_deploy_nginx_conf_is_the_file_the_package_ships() -> None:
    assert NGINX_CONF.read_bytes() == (ROOT / "replyx" / "deploy" / "nginx.conf").read_bytes()
    assert shipped.shipped_config() == NGINX_CONF.read_text()


def test_the_wheel_carries_the_nginx_config(tmp_path: Path) -> None:
    # Built from a copy of what the Dockerfile copies, so the build leaves nothing in the work tree.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "replyx", source / "replyx", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=scaled(300),
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("replyx-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("replyx/deploy/nginx.conf") == NGINX_CONF.read_bytes()
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata


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
