"""Owners and their operators: creation, login, and the end of their sessions."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, select

from replyx import wire
from replyx.db.models import Operator, Owner
from replyx.diagnostics import metrics
from replyx.domain import auth
from replyx.domain.context import ChatContext
from replyx.domain.errors import BadRequest, Conflict, RateLimited, Unauthorized


async def get_operator(ctx: ChatContext, claims: auth.OperatorClaims) -> Operator:
    """The operator a token names, while that session lasts; Unauthorized once it ended."""
    async with ctx.sessions() as session:
        operator = await session.get(Operator, claims.operator_id)
    if operator is None or not operator.active or operator.token_version != claims.version:
        raise Unauthorized("the session has ended: log in again")
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
        password_hash = await ctx.passwords.hash(password)
        operator = Operator(owner_id=owner_id, email=email, name=display, password_hash=password_hash)
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
    """Replace an operator's password, ending their sessions; None when there is no such operator."""
    _checked_credentials(email, password)
    password_hash = await ctx.passwords.hash(password)
    return await _change_ending_sessions(ctx, Operator.email == email.strip().lower(), password_hash=password_hash)


async def set_active(ctx: ChatContext, *, email: str, active: bool) -> Operator | None:
    """Deactivate an operator (every session ends, no login) or let them log in again."""
    return await _change_ending_sessions(ctx, Operator.email == email.strip().lower(), active=active)


async def end_sessions(ctx: ChatContext, operator_id: int) -> None:
    """End every session of the operator (a logout): tokens stop working, sockets close with 4001."""
    await _change_ending_sessions(ctx, Operator.id == operator_id)


async def _change_ending_sessions(ctx: ChatContext, which: ColumnElement[bool], **values: Any) -> Operator | None:
    """Set ``values`` on the operator ``which`` selects and end every session they have; None when none."""
    async with ctx.sessions() as session, session.begin():
        operator = await session.scalar(select(Operator).where(which).with_for_update())
        if operator is None:
            return None
        for name, value in values.items():
            setattr(operator, name, value)
        operator.token_version += 1
    await _announce_end(ctx, operator)
    return operator


async def current_sessions(ctx: ChatContext, versions: dict[int, int]) -> dict[int, int | None]:
    """Each operator's current session version (None: deactivated or gone), for sockets to compare."""
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(Operator.id, Operator.token_version, Operator.active).where(Operator.id.in_(list(versions)))
        )
        found = {row.id: (row.token_version if row.active else None) for row in rows}
    return {operator_id: found.get(operator_id) for operator_id in versions}


async def _announce_end(ctx: ChatContext, operator: Operator) -> None:
    # Every node closes the operator's sockets of older sessions; a node that misses this (broker
    # away) compares its operators' sessions again when the broker is back (Hub.resync).
    event = wire.sessions_ended_event(operator.id, operator.token_version)
    await ctx.broker.publish(wire.CONTROL_TOPIC, wire.encode_for_broker(event))


async def find_operator(ctx: ChatContext, email: str) -> Operator | None:
    """The operator with this email, if any."""
    async with ctx.sessions() as session:
        return await session.scalar(select(Operator).where(Operator.email == email.strip().lower()))


async def login(ctx: ChatContext, *, email: str, password: str, address: str) -> str:
    """A fresh JWT for valid credentials, else Unauthorized; throttled per account and address.

    An unknown email, a wrong password and a deactivated operator get the same answer after
    the same work (a verification against a dummy hash when there is no account).
    """
    keys = [f"account:{email.strip().lower()}", f"address:{address}"]
    wait = ctx.login_throttle.wait_needed(keys)
    if wait > 0:
        metrics.LOGIN_FAILURES.labels("throttled").inc()
        raise RateLimited(f"too many failed logins: retry in {math.ceil(wait)} s", retry_after=math.ceil(wait))
    operator = await find_operator(ctx, email)
    matches = await ctx.passwords.verify(operator.password_hash if operator else None, password)
    if operator is None or not matches or not operator.active:
        ctx.login_throttle.failed(keys)
        metrics.LOGIN_FAILURES.labels("credentials").inc()
        raise Unauthorized("wrong email or password")
    ctx.login_throttle.succeeded(keys[0])
    return issue_token(ctx, operator)


def issue_token(ctx: ChatContext, operator: Operator) -> str:
    """A JWT for the operator's current session version."""
    return auth.issue_operator_token(
        ctx.settings.secret_key,
        operator_id=operator.id,
        owner_id=operator.owner_id,
        version=operator.token_version,
        minutes=ctx.settings.jwt_expire_minutes,
    )


async def change_password(ctx: ChatContext, *, operator: Operator, current: str, new: str, address: str) -> str:
    """Check the current password (throttled as a login), set the new one; a fresh token for this session."""
    await login(ctx, email=operator.email, password=current, address=address)
    changed = await set_password(ctx, email=operator.email, password=new)
    assert changed is not None
    return issue_token(ctx, changed)
