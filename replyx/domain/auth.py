"""Operator JWTs, site tokens and guest tokens (passwords: ``replyx.domain.passwords``).

Every token is an HS256 JWT signed with a key derived from the secret for its
purpose, so one kind of token can never be passed off as another.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from replyx.domain.errors import Unauthorized

ALGORITHM = "HS256"


@dataclass(frozen=True)
class OperatorClaims:
    """Who an operator token names."""

    operator_id: int
    owner_id: int
    # The operator's token version when it was issued: a logout or password change bumps it.
    version: int


@dataclass(frozen=True)
class SiteClaims:
    """Which assistant (and which version of its token) a site token names."""

    assistant_id: int
    version: int


@dataclass(frozen=True)
class GuestClaims:
    """The one dialog a guest token opens, and its guest."""

    dialog_id: int
    guest_id: str


def _key(secret: str, purpose: str) -> str:
    return hashlib.sha256(f"replyx:{purpose}:{secret}".encode()).hexdigest()


def _decode(token: str, secret: str, purpose: str, required: tuple[str, ...] = ()) -> dict[str, object]:
    if not token:
        raise Unauthorized("credential missing")
    try:
        return jwt.decode(token, _key(secret, purpose), algorithms=[ALGORITHM], options={"require": list(required)})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("credential expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("credential invalid") from exc


def issue_operator_token(secret: str, *, operator_id: int, owner_id: int, version: int, minutes: int) -> str:
    """A signed operator JWT that expires after the given minutes."""
    now = datetime.now(UTC)
    payload = {
        "sub": str(operator_id),
        "owner": owner_id,
        "ver": version,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
    }
    return jwt.encode(payload, _key(secret, "operator"), algorithm=ALGORITHM)


def decode_operator_token(secret: str, token: str) -> OperatorClaims:
    """The claims of a valid operator JWT (``exp`` required), or Unauthorized."""
    claims = _decode(token, secret, "operator", required=("exp", "sub", "owner", "ver"))
    try:
        return OperatorClaims(
            operator_id=int(str(claims["sub"])), owner_id=int(str(claims["owner"])), version=int(str(claims["ver"]))
        )
    except (KeyError, ValueError) as exc:
        raise Unauthorized("credential invalid") from exc


def issue_site_token(secret: str, *, assistant_id: int, version: int) -> str:
    """The public token a site embeds; it names an assistant, never a dialog."""
    payload = {"aid": assistant_id, "ver": version}
    return jwt.encode(payload, _key(secret, "site"), algorithm=ALGORITHM)


def decode_site_token(secret: str, token: str) -> SiteClaims:
    """The claims of a well-signed site token (the version is checked against storage later)."""
    claims = _decode(token, secret, "site")
    try:
        return SiteClaims(assistant_id=int(str(claims["aid"])), version=int(str(claims["ver"])))
    except (KeyError, ValueError) as exc:
        raise Unauthorized("credential invalid") from exc


def issue_guest_token(secret: str, *, dialog_id: int, guest_id: str) -> str:
    """A token binding one guest to one dialog; random, so that no two are alike.

    The guest id is not a secret (operators see it): only this token proves to be that guest.
    """
    payload = {"did": dialog_id, "gid": guest_id, "n": secrets.token_urlsafe(12)}
    return jwt.encode(payload, _key(secret, "guest"), algorithm=ALGORITHM)


def decode_guest_token(secret: str, token: str) -> GuestClaims:
    """The claims of a valid guest token, or Unauthorized."""
    claims = _decode(token, secret, "guest")
    try:
        return GuestClaims(dialog_id=int(str(claims["did"])), guest_id=str(claims["gid"]))
    except (KeyError, ValueError) as exc:
        raise Unauthorized("credential invalid") from exc
