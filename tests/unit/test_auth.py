"""Tokens and passwords: each token kind only works as itself."""

from __future__ import annotations

import jwt
import pytest

from replyx.domain import auth
from replyx.domain.errors import Unauthorized

SECRET = "s" * 48


def test_password_hash_round_trip() -> None:
    stored = auth.hash_password("correct horse")
    assert auth.verify_password(stored, "correct horse")
    assert not auth.verify_password(stored, "wrong")
    assert not auth.verify_password("not-a-hash", "x")


def test_operator_token_round_trip_and_expiry() -> None:
    token = auth.issue_operator_token(SECRET, operator_id=3, owner_id=9, minutes=5)
    assert auth.decode_operator_token(SECRET, token) == auth.OperatorClaims(3, 9)
    expired = auth.issue_operator_token(SECRET, operator_id=3, owner_id=9, minutes=-1)
    with pytest.raises(Unauthorized, match="expired"):
        auth.decode_operator_token(SECRET, expired)


def test_tokens_of_one_kind_are_not_accepted_as_another() -> None:
    site = auth.issue_site_token(SECRET, assistant_id=1, version=1)
    guest = auth.issue_guest_token(SECRET, dialog_id=1, guest_id="g" * 10)
    with pytest.raises(Unauthorized):
        auth.decode_operator_token(SECRET, site)
    with pytest.raises(Unauthorized):
        auth.decode_site_token(SECRET, guest)
    with pytest.raises(Unauthorized):
        auth.decode_guest_token(SECRET, site)


def test_alg_none_and_foreign_keys_are_refused() -> None:
    unsigned = jwt.encode({"sub": "1", "owner": 1}, None, algorithm="none")
    with pytest.raises(Unauthorized):
        auth.decode_operator_token(SECRET, unsigned)
    other = auth.issue_operator_token("t" * 48, operator_id=1, owner_id=1, minutes=5)
    with pytest.raises(Unauthorized):
        auth.decode_operator_token(SECRET, other)
    with pytest.raises(Unauthorized, match="missing"):
        auth.decode_operator_token(SECRET, "")
