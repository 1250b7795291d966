"""The pages a visitor's browser loads: the chat iframe and the demo shop, with their security headers.

The chat iframe may be framed only by the assistant's allowed domains (plus
replyx itself); docs/widget.md explains the rules, including why an assistant
without allowed domains can be framed anywhere.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from replyx.db.models import Assistant
from replyx.domain import assistants, dialogs
from replyx.domain import demo as demo_data
from replyx.domain.context import ChatContext
from replyx.domain.errors import DomainError, NotFound
from replyx.domain.origins import normalize_domain, origin_allowed
from replyx.web import STATIC_DIR

WIDGET_DIR = STATIC_DIR / "widget"
LANGS = ("en", "ru")
LAYOUTS = ("floating", "inline")

_HOST = re.compile(r"^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_PORT = re.compile(r"^\d{1,5}$")
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_NETLOC = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$")


@dataclass(frozen=True)
class ChatPage:
    """The rendered chat iframe: its status, HTML and headers."""

    status_code: int
    body: str
    headers: dict[str, str]


def _sources(entry: str) -> list[str]:
    """CSP host sources for one allowed-domains entry: the host and its subdomains.

    Without a scheme the browser matches the chat's own scheme (https also
    admits http pages only when replyx itself is served over http); without a
    port, the scheme's default port.
    """
    scheme = entry.strip().lower().split("://", 1)[0] if "://" in entry else ""
    if scheme and scheme not in ("http", "https"):
        return []
    netloc = normalize_domain(entry)
    host, _, port = netloc.partition(":")
    if not host or not _HOST.match(host) or (port and not _PORT.match(port)):
        return []
    host = host.removeprefix("*.")
    hosts = [host] if _IPV4.match(host) or host == "localhost" else [host, f"*.{host}"]
    prefix = f"{scheme}://" if scheme else ""
    suffix = f":{port}" if port else ""
    return [f"{prefix}{h}{suffix}" for h in hosts]


def frame_ancestors(allowed_domains: list[str]) -> str:
    """The ``frame-ancestors`` directive: replyx itself and the allowed domains, or ``*`` when none are set.

    An assistant without allowed domains accepts visitors from every origin
    (see origins.py), so refusing to be framed would only break the widget.
    """
    entries = [d for d in allowed_domains if d.strip()]
    if not entries:
        return "frame-ancestors *"
    sources = ["'self'"]
    for entry in entries:
        sources.extend(s for s in _sources(entry) if s not in sources)
    return "frame-ancestors " + " ".join(sources)


def _socket_sources(public_url: str, host_header: str) -> str:
    """Explicit ws/wss sources for browsers whose 'self' does not cover WebSockets."""
    netloc = urlsplit(public_url).netloc if public_url else host_header
    if not netloc or not _NETLOC.match(netloc):
        return ""
    return f" ws://{netloc} wss://{netloc}"


def content_security_policy(allowed_domains: list[str], *, public_url: str, host_header: str) -> str:
    """The chat iframe's full policy: only its own scripts, styles and connections."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'" + _socket_sources(public_url, host_header),
            "base-uri 'none'",
            "form-action 'none'",
            frame_ancestors(allowed_domains),
        ]
    )


def _origin(value: str | None) -> str:
    """``scheme://host[:port]`` of an http(s) URL, or '' when it is not one."""
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or not _NETLOC.match(parts.netloc):
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def _json_for_html(data: dict[str, Any]) -> str:
    """JSON that cannot close the <script> block it sits in."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _check_parent(assistant: Assistant, parent_origin: str, *, own_hosts: list[str]) -> None:
    """NotFound unless the page framing the chat may embed this assistant.

    An assistant limited to some domains shows its name and greeting only to those pages (and
    to replyx's own), so counting through ids on an address bar learns nothing about it. One
    without allowed domains may be embedded anywhere, and its page is public by that choice.
    """
    domains = [d for d in assistant.allowed_domains or [] if d.strip()]
    if domains and not (parent_origin and origin_allowed(parent_origin, allowed_domains=domains, own_hosts=own_hosts)):
        raise NotFound("assistant not found")


async def _assistant(ctx: ChatContext, site_token: str | None, assistant_id: str | None) -> tuple[Assistant, str]:
    """The assistant and the mode: the site token has priority over the assistant id."""
    if site_token:
        return await dialogs.assistant_for_site_token(ctx, site_token), "site"
    return await dialogs.assistant_by_id(ctx, assistant_id), "widget"


async def chat_page(
    ctx: ChatContext,
    *,
    site_token: str | None,
    assistant_id: str | None,
    lang: str | None,
    layout: str | None,
    parent_origin: str | None,
    color: str | None,
    host_header: str,
) -> ChatPage:
    """The chat iframe for the assistant the query names; an explanatory page when none is found."""
    config: dict[str, Any] = {
        "lang": lang if lang in LANGS else "",
        "layout": layout if layout in LAYOUTS else "floating",
        "parentOrigin": _origin(parent_origin),
        "color": color if color and _COLOR.match(color) else "",
        "maxLength": ctx.settings.max_message_length,
    }
    allowed: list[str] = []
    status_code = 200
    try:
        assistant, mode = await _assistant(ctx, site_token, assistant_id)
        # Framing stays limited to the assistant's domains whether or not the page shows it.
        allowed = list(assistant.allowed_domains or [])
        _check_parent(assistant, config["parentOrigin"], own_hosts=[host_header, ctx.settings.public_url])
    except DomainError:
        config["error"] = "unavailable"
        status_code = 404
    else:
        config.update(
            mode=mode,
            siteToken=site_token if mode == "site" else "",
            assistantId=assistant.id,
            name=assistant.name,
            greeting=assistant.greeting,
        )
    template = (WIDGET_DIR / "chat.html").read_text(encoding="utf-8")
    body = template.replace("{{lang}}", config["lang"] or "en").replace("{{config}}", _json_for_html(config))
    headers = {
        "Content-Security-Policy": content_security_policy(
            allowed, public_url=ctx.settings.public_url, host_header=host_header
        ),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return ChatPage(status_code, body, headers)


async def demo_page(ctx: ChatContext, *, assistant_id: str | None, lang: str | None) -> str:
    """The demo shop with the widget embedded as a customer's page embeds it.

    The script's URL is relative: the page is served by replyx itself, so no address is taken
    from the request's Host. ``assistant_id`` shows only an assistant that any site may embed
    (no allowed domains); the demo owner's first assistant is the default.
    """
    snippet = ""
    if assistant_id:
        try:
            assistant: Assistant | None = await dialogs.assistant_by_id(ctx, assistant_id)
        except DomainError:
            assistant = None
        if assistant is not None and not assistant.allowed_domains:
            snippet = f'<script src="/widget.js" data-assistant-id="{assistant.id}" async></script>'
    else:
        demo = await demo_data.demo_assistant(ctx)
        if demo is not None:
            snippet = assistants.embed_code(ctx, demo, "")
    if snippet and lang in LANGS:
        snippet = snippet.replace(" async>", f' data-lang="{lang}" async>')
    if not snippet:
        snippet = (
            '<p class="notice">No demo assistant yet: start replyx with <code>replyx serve --demo</code> '
            "(or <code>make run</code>), or open <code>/demo?assistant_id=N</code>.</p>"
        )
    template = (WIDGET_DIR / "demo.html").read_text(encoding="utf-8")
    return template.replace("{{embed}}", snippet)
