"""Plain HTTP requests to WebSocket paths: say plainly that the upgrade was lost on the way."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

router = APIRouter(include_in_schema=False)


@router.get("/ws/{path:path}")
async def upgrade_required(path: str) -> JSONResponse:
    """A GET without ``Upgrade: websocket`` reached replyx: a proxy dropped the upgrade headers."""
    return JSONResponse(
        {
            "detail": "WebSocket upgrade expected: this request arrived without the Upgrade/Connection "
            "headers, so a proxy in front of replyx does not forward them"
        },
        status_code=426,
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )
