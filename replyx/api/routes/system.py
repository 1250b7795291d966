"""Health, cluster-wide socket stats and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from replyx import __version__
from replyx.api.deps import Ctx, CurrentOperator, client_address
from replyx.diagnostics.metrics import exposition
from replyx.domain.errors import NotFound
from replyx.realtime.hub import Hub
from replyx.realtime.stats import cluster_stats

router = APIRouter(tags=["system"])


@router.get("/health")
async def health(request: Request, ctx: Ctx, response: Response) -> dict[str, Any]:
    """Liveness with the state of storage and broker; 503 when storage is down."""
    database = "ok"
    try:
        async with ctx.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        database = "unavailable"
        response.status_code = 503
    broker = "ok" if ctx.broker.connected else "reconnecting"
    return {
        "status": "ok" if database == "ok" else "degraded",
        "version": __version__,
        "database": database,
        "broker": broker,
        "broker_kind": type(ctx.broker).__name__,
        "node_id": request.app.state.hub.node_id,
    }


@router.get("/api/ws/stats")
async def ws_stats(request: Request, ctx: Ctx, operator: CurrentOperator) -> dict[str, Any]:
    """Sockets per pool and per dialog, for every live node of the cluster."""
    hub: Hub = request.app.state.hub
    return await cluster_stats(hub, ctx.broker, owner_id=operator.owner_id)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, ctx: Ctx) -> Response:
    """Prometheus exposition (all workers of this server); only to addresses in REPLYX_METRICS_ALLOW."""
    if not ctx.settings.metrics_allowed(client_address(request)):
        raise NotFound("not found")
    body, content_type = exposition()
    return Response(body, media_type=content_type)
