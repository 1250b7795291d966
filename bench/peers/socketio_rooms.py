"""python-socketio rooms under uvicorn: ``join`` enters rooms, ``message`` is emitted to its room.

Run it with ``uvicorn bench.peers.socketio_rooms:app``; clients connect to
``/socket.io/?EIO=4&transport=websocket``.
"""

from __future__ import annotations

from typing import Any

import socketio

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
app = socketio.ASGIApp(sio)


@sio.on("join")
async def join(sid: str, names: list[str]) -> bool:
    """Enter every named room; the answer acknowledges the join."""
    for name in names:
        await sio.enter_room(sid, name)
    return True


@sio.on("message")
async def message(sid: str, data: dict[str, Any]) -> None:
    """Emit the message to everyone in its room, the sender included."""
    await sio.emit("message", data, room=data["room"])
