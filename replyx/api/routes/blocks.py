"""Visitors the owner blocked: list them, lift a block."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from replyx.api.deps import Ctx, CurrentOperator
from replyx.domain import blocking

router = APIRouter(prefix="/api/blocks", tags=["blocks"])


@router.get("")
async def list_blocks(ctx: Ctx, operator: CurrentOperator) -> list[dict[str, Any]]:
    """The owner's blocked guests and addresses, newest first."""
    return await blocking.list_blocks(ctx, owner_id=operator.owner_id)


@router.delete("/{block_id}", status_code=204)
async def unblock(block_id: int, ctx: Ctx, operator: CurrentOperator) -> Response:
    """Lift a block: that guest or address may open dialogs again."""
    await blocking.unblock(ctx, owner_id=operator.owner_id, block_id=block_id)
    return Response(status_code=204)
