"""A tiny run of the benchmark: it starts, loads and reports sane figures (never a speed bound)."""

from __future__ import annotations

import math

import pytest

from bench.__main__ import table
from bench.runner import LoadPlan, measure
from bench.targets import Shape, make_target

SHAPE = Shape(dialogs=3, operators=2, dialogs_per_owner=3, inbox_per_owner=1)
PLAN = LoadPlan(rates=[20.0], duration=1.0, warmup_rate=10.0)


@pytest.mark.parametrize("name", ["replyx-sqlite", "fastapi", "socketio"])
def test_one_step_reports_every_figure(name: str) -> None:
    report = measure(make_target(name), SHAPE, PLAN)
    assert report["connect"]["opened"] == SHAPE.sockets == 10
    assert report["connect"]["errors"] == {}
    assert report["connect"]["per_s"] > 0
    assert report["rss"]["after_kb"] > 0 and math.isfinite(report["rss"]["kb_per_socket"])
    (step,) = report["steps"]
    assert step["sent"] > 0
    # Every message reaches its dialog's visitor, both operators and the owner's inbox.
    assert step["expected"] == step["sent"] * SHAPE.fanout
    assert step["received"] == step["expected"], step["errors"]
    latency = step["latency"]
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert step["errors"] == {}
    if name.startswith("replyx"):
        assert step["store_latency"]["count"] == step["received"]
        assert step["store_latency"]["p50_ms"] <= latency["p50_ms"]
    assert step["client_cpu_pct"] > 0
    # CPU time is counted in 10 ms ticks: a peer serving 10 sockets for one short step may use none.
    assert step["server_cpu_pct"] > 0 if name.startswith("replyx") else step["server_cpu_pct"] >= 0


def test_table_has_ratios_to_the_peers() -> None:
    runs = {
        "fanout/plain/replyx-sqlite": [{"best": {"deliveries_per_s": 3000.0, "latency": {"p50_ms": 1, "p99_ms": 9}}}],
        "fanout/plain/fastapi": [{"best": {"deliveries_per_s": 2000.0, "latency": {"p50_ms": 1, "p99_ms": 9}}}],
        "fanout/plain/socketio": [{"best": {"deliveries_per_s": 500.0, "latency": {"p50_ms": 1, "p99_ms": 9}}}],
    }
    text = table({"cases": runs})
    assert "| fanout/plain/replyx-sqlite | 3,000 (3,000–3,000) |" in text
    assert "1.50× | 6.00×" in text
