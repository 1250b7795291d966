"""HTML pages and static files: the admin panel, the widget loader, the chat iframe, the demo."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from replyx.web import STATIC_DIR

router = APIRouter(include_in_schema=False)


@router.get("/admin")
async def admin_panel() -> FileResponse:
    """The operator's single-page panel."""
    return FileResponse(STATIC_DIR / "admin" / "index.html", headers={"Cache-Control": "no-cache"})
