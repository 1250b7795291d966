"""Operator login."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from replyx.api.deps import Ctx, CurrentOperator, client_address
from replyx.api.schemas import LoginIn, PasswordChangeIn
from replyx.domain import operators

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login")
async def log_in(body: LoginIn, request: Request, ctx: Ctx) -> dict[str, str]:
    """Exchange email and password for a JWT (throttled after failures: 429 with Retry-After)."""
    token = await operators.login(ctx, email=body.email, password=body.password, address=client_address(request))
    return {"access_token": token, "token_type": "bearer"}


@router.post("/logout", status_code=204)
async def log_out(ctx: Ctx, operator: CurrentOperator) -> Response:
    """End every session of this operator: their tokens stop working and their sockets close (4001)."""
    await operators.end_sessions(ctx, operator.id)
    return Response(status_code=204)


@router.post("/password")
async def change_password(
    body: PasswordChangeIn, request: Request, ctx: Ctx, operator: CurrentOperator
) -> dict[str, str]:
    """Set a new password; every other session ends, and this one gets a fresh token."""
    token = await operators.change_password(
        ctx, operator=operator, current=body.current_password, new=body.new_password, address=client_address(request)
    )
    return {"access_token": token, "token_type": "bearer"}


@router.get("/me")
async def me(operator: CurrentOperator) -> dict[str, Any]:
    """The operator the token names."""
    return {"id": operator.id, "email": operator.email, "name": operator.name, "owner_id": operator.owner_id}
