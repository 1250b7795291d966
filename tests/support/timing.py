"""Every timeout in the tests scales with REPLYX_TEST_TIMEOUT_FACTOR (slow machines raise it)."""

from __future__ import annotations

import os

FACTOR = float(os.environ.get("REPLYX_TEST_TIMEOUT_FACTOR", "1"))


def scaled(seconds: float) -> float:
    """A timeout adjusted to this machine."""
    return seconds * FACTOR
