"""Password hashing off the event loop: argon2 on a small pool of threads, the same cost for every login.

An argon2 verification takes tens of milliseconds of CPU by design; on the event
loop, a storm of wrong logins stalled every socket of the process. argon2-cffi
releases the GIL while it hashes, so threads run it beside the loop; the pool is
small so that a storm queues instead of taking every core. A login for an email
nobody has is verified against a dummy hash, so both answers take as long.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Threads hashing at once: one per core here; more would only compete with the event loop.
HASHING_THREADS = 2


class Passwords:
    """Hashes and verifies passwords on its own threads."""

    def __init__(self, threads: int = HASHING_THREADS) -> None:
        self._hasher = PasswordHasher()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="replyx-argon2")

    async def hash(self, password: str) -> str:
        """An argon2 hash of the password."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches; with no hash (no such account) False, after the same work."""
        loop = asyncio.get_running_loop()
        matches = await loop.run_in_executor(self._pool, self._verify, password_hash, password)
        return matches and password_hash is not None

    def close(self) -> None:
        """Let the threads finish what they hold, then end them."""
        self._pool.shutdown(wait=True)

    @cached_property
    def _dummy(self) -> str:
        # Made on first use (on a pool thread): a hash with the real parameters, of no one's password.
        return self._hasher.hash("replyx: no such account")

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False
