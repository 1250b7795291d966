"""A socket client in its own process, so a test can pause it (SIGSTOP) like a frozen browser tab.

    python -m tests.reliability.paused_client WS_URL OUT_FILE

It answers ``__ping__``, reconnects with ``since=<last seq>`` after any close, and appends every
message frame (and every close) to OUT_FILE as one JSON line, until SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import websockets


async def run(url: str, out: Path) -> None:
    """Keep one socket to the dialog open, recording what arrives."""
    last = 0
    with out.open("a") as log:
        while True:
            try:
                async with websockets.connect(f"{url}&since={last}", max_size=None, ping_interval=None) as ws:
                    async for frame in ws:
                        if frame == "__ping__":
                            await ws.send("__pong__")
                            continue
                        event = json.loads(frame)
                        if event["type"] == "message":
                            last = event["message"]["seq"]
                            log.write(json.dumps({"seq": last, "client_id": event["message"]["client_id"]}) + "\n")
                        elif event["type"] == "ready":
                            log.write(json.dumps({"ready": event["last_seq"]}) + "\n")
                        log.flush()
                code = ws.close_code
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None) or 1006
            log.write(json.dumps({"close": code}) + "\n")
            log.flush()
            await asyncio.sleep(0.2)


def main() -> None:
    """Run until terminated."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(run(sys.argv[1], Path(sys.argv[2])))


if __name__ == "__main__":
    main()
