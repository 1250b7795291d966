"""One thread running calls in order for the event loop, for work that may block (SQLite's writer)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any


class CallThread:
    """One thread running calls in order for the event loop: a lighter hop than ``run_in_executor``.

    A batch crosses to it and back once; the executor's locks, work items and chained futures
    cost the loop more than the hop itself (docs/performance.md).
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(*args)`` on the thread and return its result (or raise its exception)."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls.put((function, args, answer))
        return await answer

    def stop(self) -> None:
        """Let the thread finish the calls already queued, then end; waits for it."""
        self._calls.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            function, args, answer = call
            try:
                outcome: tuple[Any, BaseException | None] = (function(*args), None)
            except BaseException as exc:  # handed to the caller, as an executor would
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
                answer.get_loop().call_soon_threadsafe(_settle, answer, *outcome)


def _settle(answer: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    # The caller may have been cancelled meanwhile; its call still ran.
    if answer.done():
        return
    if exc is None:
        answer.set_result(result)
    else:
        answer.set_exception(exc)
