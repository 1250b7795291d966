"""The FastAPI room broadcast of the tutorials: no storage, no auth, every frame re-sent as is.

``/ws?rooms=a,b`` joins rooms; a text frame is sent to every socket of the
sender's first room (the sender included, as replyx does). Run it with
``uvicorn bench.peers.fastapi_rooms:app``.
"""

from __future__ import annotations

from collections import defaultdict

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
rooms: dict[str, set[WebSocket]] = defaultdict(set)


@app.websocket("/ws")
async def room_socket(websocket: WebSocket) -> None:
    """Join the rooms named in the query, then broadcast what arrives to the first one."""
    names = websocket.query_params.get("rooms", "lobby").split(",")
    await websocket.accept()
    for name in names:
        rooms[name].add(websocket)
    try:
        while True:
            data = await websocket.receive_text()
            for peer in list(rooms[names[0]]):
                await peer.send_text(data)
    except WebSocketDisconnect:
        pass
    finally:
        for name in names:
            rooms[name].discard(websocket)
