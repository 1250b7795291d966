"""Bodies are capped before they are read: a 300 MB request is refused fast, and the server's memory stays flat."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx

from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

HUGE = 300 * 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def send_body(port: int, path: str, *, declared: bool) -> tuple[int, float, int]:
    """POST up to 300 MB (declared, or chunked) until the server answers; (status, seconds, bytes sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    length = f"Content-Length: {HUGE}\r\n" if declared else "Transfer-Encoding: chunked\r\n"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{length}\r\n"
    writer.write(head.encode())
    started = time.monotonic()
    chunk = b"x" * 65536
    sent = 0
    answer = asyncio.ensure_future(reader.readline())
    with contextlib.suppress(ConnectionError):
        while sent < HUGE and not answer.done():
            writer.write(chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            sent += len(chunk)
            await asyncio.sleep(0)  # let the reader take the answer as soon as it comes
    status_line = await asyncio.wait_for(answer, scaled(30))
    elapsed = time.monotonic() - started
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return int(status_line.split()[1]), elapsed, sent


async def test_a_300_mb_body_is_refused_with_413_before_it_is_read(server: ReplyxProcess) -> None:
    assert server.proc is not None
    before = rss_bytes(server.proc.pid)
    results = {}
    for path in ("/api/site/dialogs/1/messages", "/api/auth/login"):
        for declared in (True, False):
            results[(path, declared)] = await send_body(server.port, path, declared=declared)
    after = rss_bytes(server.proc.pid)
    for (path, declared), (status, elapsed, sent) in results.items():
        print(
            f"\n{path} {'declared' if declared else 'chunked'}: {status} after {elapsed:.2f} s, {sent >> 20} MiB sent"
        )
        assert status == 413
        assert sent < HUGE / 4, "refused long before the end of the body"
    assert after - before < 64 * 1024 * 1024, f"memory grew by {(after - before) >> 20} MiB"
    # The server goes on serving, and an ordinary body still works.
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/health")).status_code == 200
        small = await http.post("/api/auth/login", json={"email": "x@example.test", "password": "y" * 10})
        assert small.status_code == 401
        answer = await http.post("/api/auth/login", content=b"{" + b" " * (300 * 1024) + b"}")
        assert answer.status_code == 413 and "bytes" in answer.json()["detail"]
