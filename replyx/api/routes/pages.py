"""HTML pages and static files: the admin panel, the widget loader, the chat iframe, the demo."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from replyx.api.deps import Ctx
from replyx.api.security_headers import demo_policy, panel_policy
from replyx.web import STATIC_DIR, embed

router = APIRouter(include_in_schema=False)


@router.get("/admin")
async def admin_panel() -> FileResponse:
    """The operator's single-page panel."""
    headers = {"Cache-Control": "no-cache", **panel_policy()}
    return FileResponse(STATIC_DIR / "admin" / "index.html", headers=headers)


@router.get("/widget.js")
async def widget_loader() -> FileResponse:
    """The loader a site embeds with one script tag (docs/widget.md)."""
    return FileResponse(
        embed.WIDGET_DIR / "widget.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/chat-iframe")
async def chat_iframe(
    request: Request,
    ctx: Ctx,
    site_token: str | None = None,
    assistant_id: str | None = None,
    lang: str | None = None,
    layout: str | None = None,
    origin: str | None = None,
    color: str | None = None,
) -> HTMLResponse:
    """The visitor's chat, framed only by the assistant's allowed domains."""
    page = await embed.chat_page(
        ctx,
        site_token=site_token,
        assistant_id=assistant_id,
        lang=lang,
        layout=layout,
        parent_origin=origin,
        color=color,
        host_header=request.headers.get("host", ""),
    )
    return HTMLResponse(page.body, status_code=page.status_code, headers=page.headers)


@router.get("/demo")
async def demo(ctx: Ctx, assistant_id: str | None = None, lang: str | None = None) -> HTMLResponse:
    """A demo shop embedding the widget of the demo owner's first assistant (or of ``assistant_id``)."""
    page = await embed.demo_page(ctx, assistant_id=assistant_id, lang=lang)
    return HTMLResponse(page, headers={"Cache-Control": "no-store", **demo_policy()})
