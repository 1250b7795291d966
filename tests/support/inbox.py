"""An inbox socket that behaves as the panel does: it re-reads the dialog list whenever told to `resync`."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import httpx

from tests.support.chat import ChatSocket, Owner


class PanelInbox:
    """Collects an inbox's message events and, on each `resync`, the list it then re-reads."""

    def __init__(self, sock: ChatSocket, base_url: str, owner: Owner) -> None:
        self.sock = sock
        self.base_url = base_url
        self.owner = owner
        # For each dialog, the last seq a list re-read after a resync showed.
        self.listed: dict[int, int] = {}
        self.resyncs = 0
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                event = await self.sock.events.get()
                if event["type"] != "resync":
                    continue
                self.resyncs += 1
                while True:
                    # Storage may be down too; the panel retries until it has a list.
                    with contextlib.suppress(httpx.HTTPError):
                        response = await http.get(f"{self.base_url}/api/dialogs", headers=self.owner.headers)
                        if response.status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                for dialog in response.json():
                    self.listed[dialog["id"]] = max(self.listed.get(dialog["id"], 0), dialog["last_seq"])

    def message_seqs(self, dialog_id: int) -> list[int]:
        """Seqs of the dialog's message events, in arrival order."""
        return [
            m["seq"]
            for e in self.sock.all_events
            if e["type"] == "message" and e["dialog_id"] == dialog_id
            for m in [e["message"]]
        ]

    def covered(self, dialog_id: int) -> set[int]:
        """Every seq this panel shows: received as an event, or in a list it re-read after a resync."""
        return set(self.message_seqs(dialog_id)) | set(range(1, self.listed.get(dialog_id, 0) + 1))

    def repeated(self, dialog_id: int) -> list[int]:
        """Seqs whose message event arrived more than once."""
        return [seq for seq, n in Counter(self.message_seqs(dialog_id)).items() if n > 1]

    async def close(self) -> None:
        """Stop watching and close the socket."""
        self._watcher.cancel()
        with contextlib.suppress(BaseException):
            await self._watcher
        await self.sock.close()
