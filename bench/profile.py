"""Top frames of a py-spy raw profile of the server's event loop thread (``python -m bench top FILE``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# Frames where the loop waits for I/O: samples ending here are idle time, not work.
IDLE_LEAVES = ("Runner.run", "run_forever", "select (selectors.py")
# Start-up frames every sample shares (or, split by greenlets, only some do): not informative.
OUTER = (
    "typer/",
    "runpy",
    "<module>",
    "uvicorn/main.py",
    "uvicorn/_compat.py",
    "uvicorn/server.py",
    "asyncio/runners.py",
    "replyx/cli.py",
    "replyx/__main__.py",
)


def top_frames(path: Path, count: int = 20) -> str:
    """Self and inclusive shares of the busy samples of the main thread (database threads apart)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    busy = idle = threads = 0
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack:
            continue
        samples = int(number)
        frames = stack.split(";")
        if frames[0].startswith("Thread._bootstrap"):
            threads += samples
            continue
        if frames[-1].startswith(IDLE_LEAVES):
            idle += samples
            continue
        busy += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            if not any(part in frame for part in OUTER):
                inclusive[frame] += samples
    lines = [f"main thread: {busy} busy samples, {idle} idle; other threads: {threads}", "self:"]
    lines += [f"  {100 * n / busy:5.1f}%  {frame}" for frame, n in own.most_common(count)]
    lines.append("inclusive (start-up frames left out):")
    lines += [f"  {100 * n / busy:5.1f}%  {frame}" for frame, n in inclusive.most_common(count)]
    return "\n".join(lines)
