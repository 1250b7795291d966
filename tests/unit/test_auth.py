"""Tokens and passwords: each token kind only works as itself."""

from __future__ import annotations

import jwt
import pytest

from replyx.domain import auth
from replyx.domain.errors import Unauthorized
from replyx.domain.passwords import Passwords

SECRET = "s" * 48


async def test_password_hash_round_trip_off_the_event_loop() -> None:
    passwords = Passwords(threads=1)
    stored = await passwords.hash("correct horse")
    assert await passwords.verify(stored, "correct horse")
    assert not await passwords.verify(stored, "wrong")
    assert not await passwords.verify("not-a-hash", "x")
    assert not await passwords.verify(None, "correct horse"), "no account: the dummy hash, never a match"
    passwords.close()


def test_operator_token_round_trip_and_expiry() -> None:
    token = auth.issue_operator_token(SECRET, operator_id=3, owner_id=9, version=2, minutes=5)
    assert auth.decode_operator_token(SECRET, token) == auth.OperatorClaims(3, 9, 2)
    expired = auth.issue_operator_token(SECRET, operator_id=3, owner_id=9, version=2, minutes=-1)
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
    other = auth.issue_operator_token("t" * 48, operator_id=1, owner_id=1, version=1, minutes=5)
    with pytest.raises(Unauthorized):
        auth.decode_operator_token(SECRET, other)
    with pytest.raises(Unauthorized, match="missing"):
        auth.decode_operator_token(SECRET, "")


def test_an_operator_token_without_exp_or_version_is_refused_even_when_well_signed() -> None:
    key = auth._key(SECRET, "operator")
    for claims in ({"sub": "1", "owner": 1, "ver": 1}, {"sub": "1", "owner": 1, "exp": 2**40}):
        with pytest.raises(Unauthorized):
            auth.decode_operator_token(SECRET, jwt.encode(claims, key, algorithm="HS256"))


def test_guest_tokens_for_the_same_guest_differ() -> None:
    first = auth.issue_guest_token(SECRET, dialog_id=1, guest_id="g" * 10)
    second = auth.issue_guest_token(SECRET, dialog_id=1, guest_id="g" * 10)
    assert first != second
    assert auth.decode_guest_token(SECRET, first) == auth.decode_guest_token(SECRET, second)
