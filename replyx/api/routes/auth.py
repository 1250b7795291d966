"""Operator login."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from replyx.api.deps import Ctx, CurrentOperator
from replyx.api.schemas import LoginIn
from replyx.domain.operators import login

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login")
async def log_in(body: LoginIn, ctx: Ctx) -> dict[str, str]:
    """Exchange email and password for a JWT."""
    token = await login(ctx, email=body.email, password=body.password)
    return {"access_token": token, "token_type": "bearer"}


@router.get("/me")
async def me(operator: CurrentOperator) -> dict[str, Any]:
    """The operator the token names."""
    return {"id": operator.id, "email": operator.email, "name": operator.name, "owner_id": operator.owner_id}
