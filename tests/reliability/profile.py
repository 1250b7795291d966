"""How big the reliability suite runs: quick in `make test`, full with REPLYX_STRESS=1 (`make test-stress`)."""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

FULL = os.environ.get("REPLYX_STRESS", "") not in ("", "0")
PROFILE = "full" if FULL else "quick"


def pick(quick: T, full: T) -> T:
    """The quick figure in `make test`, the full one under REPLYX_STRESS=1."""
    return full if FULL else quick
