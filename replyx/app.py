"""The ASGI application: wires storage, broker, hub and routers from settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError

from replyx import __version__, memory, wire
from replyx.api.body_limit import BodySizeLimit
from replyx.api.routes import assistants, auth, blocks, dialogs, pages, system, upgrade_required, visitor
from replyx.api.security_headers import SecurityHeaders
from replyx.assistant.answering import create_responder
from replyx.broker import create_broker
from replyx.config import Settings, load_settings
from replyx.db.engine import create_engine, create_session_factory
from replyx.diagnostics.logging import skip_unused_record_fields
from replyx.domain import operators
from replyx.domain.context import ChatContext
from replyx.domain.errors import DomainError
from replyx.domain.login_throttle import LoginThrottle
from replyx.domain.messages import list_messages
from replyx.domain.ratelimit import SlidingWindowLimiter
from replyx.domain.writer import create_writer
from replyx.realtime import endpoints, stats
from replyx.realtime.hub import Hub
from replyx.web import STATIC_DIR

log = logging.getLogger("replyx.app")

# Seconds a thread may hold the GIL while another waits (see lifespan; figures in docs/performance.md).
GIL_SWITCH_INTERVAL = 0.0005


def _node_id(settings: Settings) -> str:
    if not settings.node_id:
        return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    if multiprocessing.parent_process() is not None:
        # A worker of `serve --workers N`: the workers share the environment, not the node.
        return f"{settings.node_id}-{os.getpid()}"
    return settings.node_id


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build engine, broker, hub and context; tear them down in reverse."""
    settings: Settings = app.state.settings
    # Database drivers (aiosqlite) run each statement in a thread that must win the GIL back from a
    # busy event loop; Python's default 5 ms switch interval then adds up to 5 ms per statement.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    engine = create_engine(settings.effective_database_url)
    sessions = create_session_factory(engine)
    hub = Hub(
        node_id=_node_id(settings),
        fetch_messages=lambda d, s: list_messages(ctx, dialog_id=d, since=s),
        check_sessions=lambda versions: operators.current_sessions(ctx, versions),
    )
    broker = create_broker(
        settings.broker_url, on_message=hub.dispatch, on_reconnect=hub.resync, is_feed=wire.is_feed_topic
    )
    hub.bind(broker)
    ctx = ChatContext(
        settings=settings,
        sessions=sessions,
        broker=broker,
        limiter=SlidingWindowLimiter(settings.rate_limit_window),
        writer=create_writer(engine, broker, on_stored=hub.note_stored),
        login_throttle=LoginThrottle(
            per_account=settings.login_failures_per_account, per_address=settings.login_failures_per_address
        ),
    )
    responder = create_responder(settings)
    ctx.responder = responder
    app.state.ctx = ctx
    app.state.hub = hub
    app.state.connect_limiter = SlidingWindowLimiter(settings.connect_window)
    await broker.start()
    await hub.start()
    stats_task = asyncio.create_task(stats.publish_forever(hub, broker))
    # After many sockets close, give their memory back to the system (see replyx/memory.py).
    memory_task = asyncio.create_task(memory.release_after_drops(lambda: len(hub.connections)))
    sessions_task = asyncio.create_task(hub.check_sessions_forever())
    log.info("replyx %s node %s ready (broker %s)", __version__, hub.node_id, type(broker).__name__)
    try:
        yield
    finally:
        stats_task.cancel()
        memory_task.cancel()
        sessions_task.cancel()
        for task in list(ctx.tasks):
            task.cancel()
        await responder.aclose()
        await ctx.writer.close()
        ctx.passwords.close()
        await broker.close()
        await engine.dispose()


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status_code, headers=headers)


async def _storage_error(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("Storage unavailable: %s", type(exc).__name__)
    return JSONResponse({"detail": "storage is unavailable, retry shortly", "code": "unavailable"}, status_code=503)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    return JSONResponse({"detail": f"{where}: {first.get('msg')}", "errors": _plain(errors)}, status_code=422)


def _plain(errors: Any) -> Any:
    # Pydantic may put exceptions in "ctx"; keep the answer JSON-serializable.
    return [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors]


def create_app(settings: Settings | None = None) -> FastAPI:
    """A replyx application for the given settings (read from the environment when None)."""
    settings = settings or load_settings()
    skip_unused_record_fields()
    # No /docs or /redoc (they load their code from a public CDN); the schema only when enabled.
    app = FastAPI(
        title="replyx",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
    )
    app.state.settings = settings
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(DBAPIError, _storage_error)
    # A database that is down refuses new connections with a plain OSError, not a DBAPIError.
    app.add_exception_handler(OSError, _storage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    routers = (auth, assistants, visitor, dialogs, blocks, system, pages)
    for router in (module.router for module in routers):
        app.include_router(router)
    app.include_router(endpoints.router)
    app.include_router(upgrade_required.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
