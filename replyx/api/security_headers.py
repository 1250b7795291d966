"""Headers every response carries, and the Content-Security-Policy of each HTML page replyx serves.

The panel may not be framed by anyone; the demo shop only by replyx itself; the
chat iframe only by its assistant's allowed domains (``replyx.web.embed``). No
page runs an inline script or style, so none of the policies allows one.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# On every response unless a route set its own.
DEFAULTS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
}

_COMMON = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "base-uri 'none'",
]


def panel_policy() -> dict[str, str]:
    """Headers of the operator panel: its own code only, never framed."""
    policy = [*_COMMON, "connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'"]
    return {"Content-Security-Policy": "; ".join(policy), "X-Frame-Options": "DENY"}


def demo_policy() -> dict[str, str]:
    """Headers of the demo shop: its own code, the widget's iframe from replyx, framed by replyx only."""
    policy = [*_COMMON, "connect-src 'self'", "frame-src 'self'", "form-action 'none'", "frame-ancestors 'self'"]
    return {"Content-Security-Policy": "; ".join(policy), "X-Frame-Options": "SAMEORIGIN"}


class SecurityHeaders:
    """ASGI middleware adding ``DEFAULTS`` to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Pass the request on; add the missing default headers to the response's start."""
        # A socket is handed straight on, with no frame of this middleware kept for its lifetime.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_defaults(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in DEFAULTS.items() if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_defaults)
