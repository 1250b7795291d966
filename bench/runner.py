"""One measurement: start a target, open the sockets from client workers, run load steps.

A step sends a fixed total rate for a fixed time and waits for the echoes. A
step is *sustained* when every expected delivery arrived (at least 99.9 %),
no socket failed, and the p99 latency stayed under the bound. The search mode
raises the rate geometrically until a step fails, then bisects between the
last good and the first bad rate.
"""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.client import SocketSpec, worker_main
from bench.stats import cpu_seconds, machine_busy_seconds, rss_kb, summarize_us
from bench.targets import Shape, Target

# Share of expected deliveries that must arrive for a step to count as sustained.
DELIVERED_SHARE = 0.999
# Seconds the client waits after a step for late deliveries; longer means lost anyway.
DRAIN = 2.0


@dataclass
class LoadPlan:
    """How to load a target: fixed rates, or a search from ``start_rate`` upward."""

    rates: list[float]
    search: bool = False
    start_rate: float = 50.0
    growth: float = 2.0
    refinements: int = 3
    max_steps: int = 12
    min_rate: float = 1.0
    duration: float = 3.0
    p99_bound_ms: float = 50.0
    warmup_rate: float = 50.0


class Clients:
    """Client worker processes, each with a share of the owner groups."""

    def __init__(self, protocol: str, groups: list[list[SocketSpec]], workers: int, deflate: bool) -> None:
        context = multiprocessing.get_context("spawn")
        shares: list[list[SocketSpec]] = [[] for _ in range(workers)]
        for index, group in enumerate(groups):
            shares[index % workers].extend(group)
        self.pipes: list[Connection] = []
        self.processes = []
        for wid, share in enumerate(shares):
            if not share:
                continue
            parent, child = context.Pipe()
            process = context.Process(target=worker_main, args=(child, wid, protocol, share, deflate), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def ask(self, command: str, args: Any = None) -> list[dict[str, Any]]:
        """Send a command to every worker and collect their answers."""
        for pipe in self.pipes:
            pipe.send((command, args))
        return [pipe.recv() for pipe in self.pipes]

    def close(self) -> None:
        """Close the sockets and end the processes."""
        try:
            self.ask("close")
        finally:
            for process in self.processes:
                process.join(timeout=10)
                if process.is_alive():
                    process.kill()


def _step(clients: Clients, pids: list[int], step: int, rate: float, duration: float) -> dict[str, Any]:
    share = rate / len(clients.pipes)
    cpu_before, busy_before = cpu_seconds(pids), machine_busy_seconds()
    started = time.monotonic()
    answers = clients.ask("step", {"step": step, "rate": share, "duration": duration, "drain": DRAIN})
    wall = time.monotonic() - started
    server_cpu = cpu_seconds(pids) - cpu_before
    machine_busy = machine_busy_seconds() - busy_before
    latency, store = array("q"), array("q")
    for answer in answers:
        latency.frombytes(answer["latency_us"])
        store.frombytes(answer["store_us"])
    sent = sum(a["sent"] for a in answers)
    expected = sum(a["expected"] for a in answers)
    received = sum(a["received"] for a in answers)
    errors: dict[str, int] = {}
    for answer in answers:
        for key, value in answer["errors"].items():
            errors[key] = errors.get(key, 0) + value
    return {
        "rate": rate,
        "duration_s": duration,
        "sent": sent,
        "messages_per_s": sent / duration,
        "expected": expected,
        "received": received,
        "deliveries_per_s": received / duration,
        "latency": summarize_us(latency),
        "store_latency": summarize_us(store) if store else None,
        "client_cpu_pct": 100 * max(a["cpu_s"] for a in answers) / wall,
        "client_cpu_total_pct": 100 * sum(a["cpu_s"] for a in answers) / wall,
        "server_cpu_pct": 100 * server_cpu / wall,
        # Everything on the machine (server, client, PostgreSQL, Redis, nginx), out of 100 per core.
        "machine_cpu_pct": 100 * machine_busy / wall,
        "errors": errors,
    }


def _sustained(result: dict[str, Any], plan: LoadPlan, errors_before: int) -> bool:
    errors = sum(result["errors"].values())
    return (
        result["received"] >= DELIVERED_SHARE * result["expected"]
        and result["latency"]["p99_ms"] < plan.p99_bound_ms
        and errors == errors_before
    )


def _search(clients: Clients, pids: list[int], plan: LoadPlan, errors_before: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    good: dict[str, Any] | None = None
    bad_rate: float | None = None
    refined = 0
    rate = plan.start_rate
    while len(steps) < plan.max_steps:
        result = _step(clients, pids, len(steps) + 1, rate, plan.duration)
        result["sustained"] = _sustained(result, plan, errors_before)
        errors_before = sum(result["errors"].values())
        steps.append(result)
        if result["sustained"]:
            good = result
        else:
            bad_rate = rate if bad_rate is None else min(bad_rate, rate)
            time.sleep(DRAIN)  # an overloaded server still has queued work: let it finish
        if bad_rate is None:
            rate *= plan.growth
        elif good is None:
            rate /= plan.growth**2
            if rate < plan.min_rate:
                break  # not sustained even at a trickle: report no rate
        elif refined >= plan.refinements or bad_rate / good["rate"] < 1.08:
            break
        else:
            rate = (good["rate"] * bad_rate) ** 0.5
            refined += 1
        time.sleep(0.5)
    return {"best": good, "steps": steps}


def _profiler(pids: list[int], path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the server without pausing it (``--nonblocking``) for the load steps."""
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "--nonblocking", "-r", "200", "-d", str(int(seconds)), "-f", "raw"]
    command += ["-o", str(path), "-p", str(pids[-1])]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(
    target: Target,
    shape: Shape,
    plan: LoadPlan,
    *,
    workers: int = 1,
    deflate: bool = False,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Run one target with one shape and load plan; returns every figure of the run."""
    report: dict[str, Any] = {
        "target": target.describe(),
        "shape": shape.__dict__ | {"sockets": shape.sockets, "fanout": shape.fanout},
        "client_workers": workers,
        "client_offers_deflate": deflate,
    }
    target.start()
    try:
        groups = target.prepare(shape)
        pids = target.server_pids()
        time.sleep(1.0)
        rss_before = rss_kb(pids)
        clients = Clients(target.protocol, groups, workers, deflate)
        try:
            connected = clients.ask("connect")
            time.sleep(1.0)
            pids = target.server_pids()
            rss_after = rss_kb(pids)
            opened = sum(c["opened"] for c in connected)
            connect_ms = sorted(t for c in connected for t in c["connect_ms"])
            connect_errors: dict[str, int] = {}
            for answer in connected:
                for key, value in answer["errors"].items():
                    connect_errors[key] = connect_errors.get(key, 0) + value
            wall = max(c["wall_s"] for c in connected)
            report["connect"] = {
                "opened": opened,
                "errors": connect_errors,
                "wall_s": wall,
                "per_s": opened / wall if wall else 0.0,
                "p50_ms": connect_ms[len(connect_ms) // 2] if connect_ms else None,
                "p99_ms": connect_ms[int(len(connect_ms) * 0.99)] if connect_ms else None,
                "deflate_negotiated": sum(c["deflate_negotiated"] for c in connected),
            }
            report["rss"] = {
                "before_kb": rss_before,
                "after_kb": rss_after,
                "kb_per_socket": (rss_after - rss_before) / opened if opened else None,
            }
            errors_before = sum(connect_errors.values())
            if plan.warmup_rate:
                warm = _step(clients, pids, 0, plan.warmup_rate, 1.0)
                errors_before = sum(warm["errors"].values())
            spy = None
            if profile is not None:
                seconds = (plan.duration + DRAIN) * (len(plan.rates) or plan.max_steps)
                spy = _profiler(pids, profile, seconds)
            if plan.search:
                report.update(_search(clients, pids, plan, errors_before))
            else:
                steps = []
                for index, rate in enumerate(plan.rates, start=1):
                    result = _step(clients, pids, index, rate, plan.duration)
                    result["sustained"] = _sustained(result, plan, errors_before)
                    errors_before = sum(result["errors"].values())
                    steps.append(result)
                report["steps"] = steps
                report["best"] = max((s for s in steps if s["sustained"]), key=lambda s: s["rate"], default=None)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=30)
        finally:
            clients.close()
    finally:
        report["server_log_tail"] = target.log_tail()
        target.stop()
    return report
