"""Give the memory of closed sockets back to the operating system.

An idle socket costs about 45 KiB of small Python objects. Python's own allocator (pymalloc) carves
them out of 1 MiB arenas and returns an arena only once every object in it is gone; after thousands
of sockets close, the few long-lived objects created meanwhile (uvloop's free lists of handles, caches
filled on first use: a few thousand blocks in all) sit in nearly every one of those arenas, so the
process stayed at its peak for good. With glibc's ``malloc`` serving Python objects too
(``PYTHONMALLOC=malloc``), ``malloc_trim`` hands back every free 4 KiB page instead, which a stray
survivor can only pin one page at a time. ``replyx serve`` therefore re-executes itself once with
that setting, and ``release_after_drops`` trims after the socket count has fallen well below its peak.
The figures are in docs/reliability.md (Soak and churn).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import sys
import time
from collections.abc import Callable

log = logging.getLogger("replyx.memory")

# Sockets that must have closed (about 45 KiB each: 200 are ~9 MiB) before a trim is worth its pause:
# a full collection plus malloc_trim right after a few thousand sockets closed takes 0.1-0.3 s.
TRIM_DROP = 200
# Seconds between looks at the socket count: a mass disconnect is given back a few seconds after it
# ends, and a steady churn never trims more often than this.
TRIM_EVERY = 2.0


def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (the only one with ``malloc_trim``), else None."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        return ctypes.CDLL("libc.so.6")
    except (ValueError, OSError):
        return None


def use_malloc_for_python_objects() -> None:
    """Re-execute this command with ``PYTHONMALLOC=malloc``, once, on glibc.

    The allocator is chosen when the interpreter starts, so the process replaces itself (same pid,
    same arguments and open files). A ``PYTHONMALLOC`` set by the operator, ``pymalloc`` included,
    is left as it is.
    """
    if "PYTHONMALLOC" in os.environ or glibc() is None:
        return
    os.environ["PYTHONMALLOC"] = "malloc"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def release(libc: ctypes.CDLL | None) -> None:
    """Free cyclic garbage, then return the allocator's free pages to the system."""
    started = time.perf_counter()
    gc.collect()
    if libc is not None:
        libc.malloc_trim(0)
    log.debug("Memory released in %.0f ms", 1000 * (time.perf_counter() - started))


async def release_after_drops(count: Callable[[], int], *, drop: int = TRIM_DROP, every: float = TRIM_EVERY) -> None:
    """Until cancelled: release memory once ``count()`` is ``drop`` below its peak and has stopped falling."""
    libc = glibc()
    peak = last = count()
    while True:
        await asyncio.sleep(every)
        now = count()
        peak = max(peak, now)
        if peak - now >= drop and now >= last:
            release(libc)
            peak = now
        last = now
