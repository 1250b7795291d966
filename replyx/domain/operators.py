"""Owners and their operators: creation and login."""

from __future__ import annotations

from sqlalchemy import select

from replyx.db.models import Operator, Owner
from replyx.domain import auth
from replyx.domain.context import ChatContext
from replyx.domain.errors import BadRequest, Conflict, Unauthorized


async def get_operator(ctx: ChatContext, operator_id: int) -> Operator:
    """The operator a token names; Unauthorized when it no longer exists."""
    async with ctx.sessions() as session:
        operator = await session.get(Operator, operator_id)
    if operator is None:
        raise Unauthorized("operator no longer exists")
    return operator


def _checked_credentials(email: str, password: str) -> str:
    email = email.strip().lower()
    if "@" not in email:
        raise BadRequest("email is not valid")
    if len(password) < 8:
        raise BadRequest("password must have at least 8 characters")
    return email


async def _insert_operator(
    ctx: ChatContext, *, owner_id: int | None, email: str, password: str, name: str | None
) -> Operator:
    # owner_id None: the operator founds a new owner account named after them.
    email = _checked_credentials(email, password)
    display = name or email.split("@", 1)[0]
    async with ctx.sessions() as session, session.begin():
        if await session.scalar(select(Operator.id).where(Operator.email == email)):
            raise Conflict(f"an operator with email {email} exists")
        if owner_id is None:
            owner = Owner(name=display)
            session.add(owner)
            await session.flush()
            owner_id = owner.id
        operator = Operator(owner_id=owner_id, email=email, name=display, password_hash=auth.hash_password(password))
        session.add(operator)
    return operator


async def create_owner(ctx: ChatContext, *, email: str, password: str, name: str | None = None) -> Operator:
    """A new owner account with its first operator."""
    return await _insert_operator(ctx, owner_id=None, email=email, password=password, name=name)


async def add_operator(
    ctx: ChatContext, *, owner_email: str, email: str, password: str, name: str | None = None
) -> Operator:
    """Another operator of the account that the operator with ``owner_email`` belongs to."""
    colleague = await find_operator(ctx, owner_email)
    if colleague is None:
        raise BadRequest(f"no operator with email {owner_email}")
    return await _insert_operator(ctx, owner_id=colleague.owner_id, email=email, password=password, name=name)


async def set_password(ctx: ChatContext, *, email: str, password: str) -> Operator | None:
    """Replace an operator's password; None when there is no such operator."""
    async with ctx.sessions() as session, session.begin():
        operator = await session.scalar(select(Operator).where(Operator.email == email.lower()))
        if operator is not None:
            operator.password_hash = auth.hash_password(password)
    return operator


async def find_operator(ctx: ChatContext, email: str) -> Operator | None:
    """The operator with this email, if any."""
    async with ctx.sessions() as session:
        return await session.scalar(select(Operator).where(Operator.email == email.strip().lower()))


async def login(ctx: ChatContext, *, email: str, password: str) -> str:
    """A fresh JWT for valid credentials, else Unauthorized (same answer for both mistakes)."""
    operator = await find_operator(ctx, email)
    if operator is None or not auth.verify_password(operator.password_hash, password):
        raise Unauthorized("wrong email or password")
    return auth.issue_operator_token(
        ctx.settings.secret_key,
        operator_id=operator.id,
        owner_id=operator.owner_id,
        minutes=ctx.settings.jwt_expire_minutes,
    )
