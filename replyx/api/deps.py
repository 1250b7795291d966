"""Dependencies shared by routes: the chat context and the current operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from replyx.db.models import Operator
from replyx.domain import auth
from replyx.domain.context import ChatContext
from replyx.domain.errors import Unauthorized
from replyx.domain.operators import get_operator

_bearer = HTTPBearer(auto_error=False)


def client_address(request: Request) -> str:
    """The client's address (uvicorn already took it from X-Forwarded-For of a trusted proxy)."""
    return request.client.host if request.client else "unknown"


def get_ctx(request: Request) -> ChatContext:
    """The chat context built by the app's lifespan."""
    ctx: ChatContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ChatContext, Depends(get_ctx)]


async def current_operator(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Operator:
    """The operator named by the Bearer JWT, or 401."""
    if credentials is None:
        raise Unauthorized("Bearer token missing")
    claims = auth.decode_operator_token(ctx.settings.secret_key, credentials.credentials)
    return await get_operator(ctx, claims)


CurrentOperator = Annotated[Operator, Depends(current_operator)]
