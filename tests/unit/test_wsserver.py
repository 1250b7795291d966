"""The small stand-ins for asyncio.Queue and asyncio.Event in replyx's uvicorn protocol."""

from __future__ import annotations

import asyncio

import pytest

from replyx.realtime.wsserver import ReceiveQueue, WritableFlag


async def test_receive_queue_hands_events_over_in_order_and_wakes_its_reader() -> None:
    queue = ReceiveQueue()
    queue.put_nowait("connect")
    assert await queue.get() == "connect"
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not reader.done()
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert await reader == "a"
    assert queue.qsize() == 1 and not queue.empty()
    assert await queue.get() == "b"
    assert queue.empty()


async def test_receive_queue_refuses_a_second_concurrent_reader_and_survives_a_cancelled_one() -> None:
    queue = ReceiveQueue()
    first = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await queue.get()
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    queue.put_nowait("after")
    assert await asyncio.wait_for(queue.get(), 1) == "after"


async def test_writable_flag_holds_writers_only_while_cleared() -> None:
    flag = WritableFlag()
    assert flag.is_set() and await flag.wait()
    flag.clear()
    writers = [asyncio.create_task(flag.wait()) for _ in range(3)]
    cancelled = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    assert not any(w.done() for w in writers)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    flag.set()
    assert await asyncio.gather(*writers) == [True, True, True]
