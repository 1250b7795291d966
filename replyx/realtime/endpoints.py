"""The four WebSocket endpoints: admin, site, widget (one dialog each) and inbox.

Credentials are checked after ``accept()`` so a browser sees the close code.
The replay handshake (subscribe, replay since, release held events, ready) is
described in docs/realtime.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import APIRouter, WebSocket

from replyx import wire
from replyx.broker.base import Broker
from replyx.diagnostics import metrics
from replyx.domain import auth, dialogs
from replyx.domain.context import ChatContext
from replyx.domain.errors import DomainError, Forbidden, NotFound, Unauthorized
from replyx.domain.messages import Author, list_messages, mark_read, send_typing
from replyx.domain.operators import get_operator
from replyx.domain.origins import check_origin
from replyx.domain.sending import post_message
from replyx.realtime import protocol
from replyx.realtime.connection import Connection
from replyx.realtime.hub import Hub
from replyx.realtime.protocol import ClientFrame, CloseCode, MessageFrame, ProtocolError, ReadFrame
from replyx.wire import FeedPosition

log = logging.getLogger("replyx.ws")
router = APIRouter()

REPLAY_PAGE = 500
_DISCONNECTS = {"WebSocketDisconnect", "ClientDisconnected", "ConnectionClosed", "ConnectionClosedOK"}


@dataclass(frozen=True)
class Grant:
    """What an authenticated socket may do: its dialog (or inbox) and who it writes as."""

    pool: str
    owner_id: int
    dialog_id: int | None
    author: Author | None
    status: str | None
    # The operator's session version in the token (operator sockets): the hub closes the socket
    # once that session ends.
    session_version: int | None = None


_CLOSE_FOR = {
    Unauthorized: protocol.UNAUTHORIZED,
    Forbidden: protocol.FORBIDDEN,
    NotFound: protocol.NOT_FOUND,
}


def _close_code(error: DomainError) -> CloseCode:
    for kind, code in _CLOSE_FOR.items():
        if isinstance(error, kind):
            return code
    return protocol.FORBIDDEN


def _bearer(websocket: WebSocket) -> str:
    token = websocket.query_params.get("token", "")
    header = websocket.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    return token


def _own_hosts(websocket: WebSocket, ctx: ChatContext) -> list[str]:
    return [websocket.headers.get("host", ""), ctx.settings.public_url]


async def _operator_grant(ctx: ChatContext, websocket: WebSocket, dialog_id: int | None) -> Grant:
    claims = auth.decode_operator_token(ctx.settings.secret_key, _bearer(websocket))
    operator = await get_operator(ctx, claims)
    author = Author(
        sender="operator",
        operator_id=operator.id,
        operator_name=operator.name,
        rate_key=f"operator:{operator.id}",
    )
    if dialog_id is None:
        return Grant("inbox", operator.owner_id, None, author, None, claims.version)
    dialog = await dialogs.dialog_for_operator(ctx, dialog_id=dialog_id, owner_id=operator.owner_id)
    return Grant("admin", dialog.owner_id, dialog.id, author, dialog.status, claims.version)


async def _guest_grant(
    ctx: ChatContext, websocket: WebSocket, pool: str, dialog_id: int, assistant_id: int, allowed_domains: list[str]
) -> Grant:
    origin = websocket.headers.get("origin")
    check_origin(origin, allowed_domains=allowed_domains, own_hosts=_own_hosts(websocket, ctx))
    dialog = await dialogs.dialog_for_guest(
        ctx,
        dialog_id=dialog_id,
        assistant_id=assistant_id,
        guest_token=websocket.query_params.get("guest_token"),
    )
    author = Author(sender="user", rate_key=f"guest:{dialog.id}", address=_client_ip(websocket))
    return Grant(pool, dialog.owner_id, dialog.id, author, dialog.status)


def _since(websocket: WebSocket) -> int | None:
    raw = websocket.query_params.get("since")
    if raw is None:
        return 0
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _client_ip(websocket: WebSocket) -> str:
    return websocket.client.host if websocket.client else "unknown"


def _dialog_id(websocket: WebSocket) -> int:
    """The dialog id of the path; 0, which no dialog has, when it is not a number (so: 4004)."""
    raw = websocket.path_params["dialog_id"]
    # More than 20 digits is past any 64-bit id (and int() refuses a few thousand).
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 20 else 0


async def admin_socket(websocket: WebSocket) -> None:
    """An operator's view of one dialog."""
    ctx: ChatContext = websocket.app.state.ctx
    dialog_id = _dialog_id(websocket)
    await serve(websocket, "admin", dialog_id, lambda: _operator_grant(ctx, websocket, dialog_id))


async def inbox_socket(websocket: WebSocket) -> None:
    """Every event of the operator's owner's dialogs."""
    ctx: ChatContext = websocket.app.state.ctx
    await serve(websocket, "inbox", None, lambda: _operator_grant(ctx, websocket, None))


async def site_socket(websocket: WebSocket) -> None:
    """A visitor's socket authorized by the site token and the guest token."""
    ctx: ChatContext = websocket.app.state.ctx
    dialog_id = _dialog_id(websocket)

    async def grant() -> Grant:
        site_token = websocket.query_params.get("site_token", "")
        assistant = await dialogs.assistant_for_site_token(ctx, site_token)
        return await _guest_grant(ctx, websocket, "site", dialog_id, assistant.id, assistant.allowed_domains)

    await serve(websocket, "site", dialog_id, grant)


async def widget_socket(websocket: WebSocket) -> None:
    """A visitor's socket authorized by the assistant id and the guest token."""
    ctx: ChatContext = websocket.app.state.ctx
    dialog_id = _dialog_id(websocket)

    async def grant() -> Grant:
        assistant = await dialogs.assistant_by_id(ctx, websocket.query_params.get("assistant_id"))
        return await _guest_grant(ctx, websocket, "widget", dialog_id, assistant.id, assistant.allowed_domains)

    await serve(websocket, "widget", dialog_id, grant)


# Plain Starlette routes: FastAPI's dependency machinery would keep two exit stacks and their
# frames alive for every open socket (about 2 KB each), and these endpoints inject nothing.
router.add_websocket_route("/ws/dialogs/{dialog_id}", admin_socket)
router.add_websocket_route("/ws/dialogs", inbox_socket)
router.add_websocket_route("/ws/site/dialogs/{dialog_id}", site_socket)
router.add_websocket_route("/ws/widget/dialogs/{dialog_id}", widget_socket)


async def serve(
    websocket: WebSocket, pool: str, dialog_id: int | None, authorize: Callable[[], Awaitable[Grant]]
) -> None:
    """Accept, authorize, replay, then run the socket until it closes."""
    ctx: ChatContext = websocket.app.state.ctx
    hub: Hub = websocket.app.state.hub
    prefix = protocol.LOG_PREFIX[pool]
    subject = f"dialog {dialog_id}" if dialog_id is not None else "inbox"
    log.info("%s WebSocket connection attempt for %s", prefix, subject)
    await websocket.accept()
    ip = _client_ip(websocket)
    if not websocket.app.state.connect_limiter.hit(ip, ctx.settings.max_connects_per_ip):
        # Refused before authorizing, so a connect flood costs no database work.
        log.warning("%s WebSocket refused for %s: too many connects from this address", prefix, subject)
        metrics.REFUSED.labels(pool, str(protocol.TOO_MANY.code)).inc()
        await websocket.close(protocol.TOO_MANY.code, "too many connects from this address")
        return
    try:
        grant: Grant = await authorize()
    except DomainError as error:
        code = _close_code(error)
        log.info("%s WebSocket refused for %s: %s (%d)", prefix, subject, error.detail, code.code)
        metrics.REFUSED.labels(pool, str(code.code)).inc()
        await websocket.close(code.code, error.detail[:120])
        return
    except Exception:
        log.exception("%s Authorization failed for %s", prefix, subject)
        await websocket.close(protocol.INTERNAL_ERROR.code, "internal error")
        return
    refusal = _capacity_refusal(ctx, hub, grant, ip)
    if refusal is not None:
        log.warning("%s WebSocket refused for %s: %s", prefix, subject, refusal.reason)
        metrics.REFUSED.labels(pool, str(refusal.code)).inc()
        await websocket.close(refusal.code, refusal.reason)
        return
    conn = Connection(
        websocket,
        pool=pool,
        dialog_id=grant.dialog_id,
        owner_id=grant.owner_id,
        ip=ip,
        queue_size=ctx.settings.ws_send_queue,
        on_gap=hub.on_gap,
        session=(grant.author.operator_id, grant.session_version)
        if grant.author and grant.author.operator_id is not None and grant.session_version is not None
        else None,
    )
    try:
        await hub.attach(conn)
    except Exception:
        log.exception("%s Broker subscribe failed for %s", prefix, subject)
        await websocket.close(protocol.AT_CAPACITY.code, "broker unavailable")
        return
    log.info("%s WebSocket accepted for %s", prefix, subject)
    metrics.CONNECTS.labels(pool).inc()
    metrics.CONNECTIONS.labels(pool).inc()
    if dialog_id is not None:
        log.info("%s Total connections for dialog %s: %d", prefix, dialog_id, hub.count_dialog(dialog_id))
    try:
        await _run(websocket, ctx, conn, grant)
    finally:
        await hub.detach(conn)
        metrics.CONNECTIONS.labels(pool).dec()
        metrics.DISCONNECTS.labels(pool, str(conn.close_code.code) if conn.close_code else "client").inc()
        if dialog_id is not None:
            log.info(
                "%s Remaining connections for dialog %s: %d",
                prefix,
                dialog_id,
                hub.count_dialog(dialog_id),
            )
        else:
            log.info("%s Inbox closed for owner %s", prefix, grant.owner_id)


def _capacity_refusal(ctx: ChatContext, hub: Hub, grant: Grant, ip: str) -> CloseCode | None:
    settings = ctx.settings
    if len(hub.connections) >= settings.max_connections:
        return protocol.AT_CAPACITY
    if grant.dialog_id is not None and hub.count_dialog(grant.dialog_id) >= settings.max_sockets_per_dialog:
        return protocol.TOO_MANY
    if hub.count_ip(ip) >= settings.max_sockets_per_ip:
        return protocol.TOO_MANY
    return None


async def _replay(websocket: WebSocket, ctx: ChatContext, conn: Connection, since: int) -> int:
    assert conn.dialog_id is not None
    last = since
    while True:
        page = await list_messages(ctx, dialog_id=conn.dialog_id, since=last, limit=REPLAY_PAGE)
        for message in page:
            await websocket.send_text(wire.encode(wire.message_event(conn.dialog_id, message)))
            last = message["seq"]
        metrics.REPLAYED.inc(len(page))
        if len(page) < REPLAY_PAGE:
            return last


async def _resume_feed(websocket: WebSocket, broker: Broker, conn: Connection, since: int) -> FeedPosition | None:
    """An inbox socket's start in its feed: what it missed since ``since`` in ``epoch``, or a ``resync``.

    Without an epoch the socket starts at the feed's current position (a new panel, or a client
    that predates feeds). None when the broker cannot say; the socket then starts from the first
    numbered event it gets, and the hub's resync after the broker is back covers the rest.
    """
    epoch = websocket.query_params.get("epoch")
    try:
        if not epoch:
            return await broker.feed_position(conn.topic)
        events = await broker.feed_since(conn.topic, FeedPosition(epoch, since))
        if events is None:
            position: FeedPosition | None = await broker.feed_position(conn.topic)
            metrics.FEED_RESYNCS.inc()
            await websocket.send_text(wire.encode(wire.resync_event(position)))
            return position
    except Exception as exc:
        log.warning("Feed of %s unreadable at connect (%r)", conn.topic, exc)
        return None
    for data in events:
        await websocket.send_text(data)
    return FeedPosition(epoch, wire.feed_offset(events[-1]) if events else since)


async def _run(websocket: WebSocket, ctx: ChatContext, conn: Connection, grant: Grant) -> None:
    since = _since(websocket)
    tasks: list[asyncio.Task[None]] = []
    try:
        if since is None:
            await websocket.send_text(
                wire.encode(wire.error_event("bad_request", "since must be a non-negative integer"))
            )
            since = 0
        if conn.dialog_id is not None:
            conn.go_live(await _replay(websocket, ctx, conn, since))
            dialog = await dialogs.get_dialog(ctx, conn.dialog_id)
            # Read positions are not replayed as events: the socket learns them here.
            read = {"user": dialog.visitor_read_seq, "operator": dialog.operator_read_seq}
            conn.put_event(wire.ready_event(conn.dialog_id, conn.last_seq, dialog.status, read=read))
        else:
            position = await _resume_feed(websocket, ctx.broker, conn, since)
            conn.go_live(0, feed=position)
            extra = {} if position is None else {"offset": position.offset, "epoch": position.epoch}
            conn.put_event(wire.ready_event(None, 0, None, **extra))
        settings = ctx.settings
        # Two tasks at most per socket (fewer tasks, less memory per idle socket): the reader, which
        # fail() cancels, and a sender only where frames go through ASGI; the heartbeat is a timer.
        receiver = asyncio.create_task(_receive_loop(websocket, ctx, conn, grant))
        conn.on_stop(receiver.cancel)
        tasks = [receiver]
        if not conn.writes_frames:
            tasks.append(asyncio.create_task(conn.send_loop()))
        conn.start_heartbeat(settings.ws_ping_interval, settings.ws_pong_timeout)
        if conn.close_code is not None:
            receiver.cancel()
        if len(tasks) == 1:
            # Awaited directly: asyncio.wait would keep a future and callbacks per idle socket.
            done = {await _settled(receiver)}
        else:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                error = task.exception()
                if not _is_disconnect(error):
                    log.error("Socket task failed: %r", error)
                    # Tell the client (1011, retryable) instead of dropping the connection without a close frame.
                    conn.fail(protocol.INTERNAL_ERROR)
    except Exception as error:
        if not _is_disconnect(error):
            log.exception("Socket of %s failed", conn.topic)
            conn.fail(protocol.INTERNAL_ERROR)
    finally:
        conn.stop_heartbeat()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if conn.close_code is not None:
            log.info("Closing socket of %s: %s (%d)", conn.topic, conn.close_code.reason, conn.close_code.code)
            await conn.close(conn.close_code)


async def _settled(task: asyncio.Task[None]) -> asyncio.Task[None]:
    """Wait for the task to end however it ends; a cancellation of the caller still propagates."""
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:  # read back from the task by the caller
        pass
    return task


def _is_disconnect(error: BaseException | None) -> bool:
    name = type(error).__name__
    return name in {
        "WebSocketDisconnect",
        "ClientDisconnected",
        "ConnectionClosed",
        "ConnectionClosedOK",
        "ConnectionClosedError",
    } or isinstance(error, (ConnectionError, RuntimeError))


async def _receive_loop(websocket: WebSocket, ctx: ChatContext, conn: Connection, grant: Grant) -> None:
    limit = ctx.settings.ws_max_frame_bytes
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            return
        conn.last_heard = time.monotonic()
        text = frame.get("text")
        if text is None:
            if len(frame.get("bytes") or b"") > limit:
                conn.fail(protocol.FRAME_TOO_LARGE)
                return
            conn.put_event(wire.error_event("bad_request", "binary frames are not supported"))
            continue
        if text == protocol.PING:
            conn.put(protocol.PONG)
            continue
        if text == protocol.PONG:
            continue
        if len(text) > limit:
            conn.fail(protocol.FRAME_TOO_LARGE)
            return
        try:
            await _handle(ctx, conn, grant, protocol.parse_client_frame(text))
        except ProtocolError as error:
            conn.put_event(wire.error_event(error.code, error.detail))
        except DomainError as error:
            conn.put_event(wire.error_event(error.code, error.detail))


async def _handle(ctx: ChatContext, conn: Connection, grant: Grant, frame: ClientFrame) -> None:
    if grant.dialog_id is None or grant.pool == "inbox" or grant.author is None:
        raise ProtocolError("bad_request", "the inbox socket only receives events")
    if isinstance(frame, MessageFrame):
        await post_message(
            ctx, dialog_id=grant.dialog_id, author=grant.author, text=frame.text, client_id=frame.client_id
        )
        return
    # Typing and read frames cost a publish (and a read frame a write): a socket gets a few a second.
    if not ctx.limiter.hit(f"frames:{id(conn)}", ctx.settings.socket_frames_limit):
        metrics.RATE_LIMITED.labels(grant.author.sender).inc()
        raise ProtocolError(
            "rate_limited",
            f"too many typing and read frames: at most "
            f"{ctx.settings.socket_frames_limit} per {ctx.settings.rate_limit_window:g} s",
        )
    if isinstance(frame, ReadFrame):
        reader = "operator" if grant.pool == "admin" else "user"
        await mark_read(ctx, dialog_id=grant.dialog_id, owner_id=grant.owner_id, reader=reader, seq=frame.seq)
    else:
        await send_typing(ctx, dialog_id=grant.dialog_id, sender=grant.author.sender, state=frame.state)
