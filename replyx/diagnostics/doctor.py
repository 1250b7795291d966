"""`replyx doctor`: check a running deployment from outside, step by step.

The steps and their order live here; each step's check is one function of ``diagnostics/checks.py``,
talking to the deployment through ``diagnostics/probe.py``. The numbers and names below are what the
CLI prints and what ``--json`` reports, so scripts can rely on them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from replyx.diagnostics import checks
from replyx.diagnostics.checks import Finding
from replyx.diagnostics.probe import DoctorOptions, Probe

__all__ = ["STEPS", "DoctorOptions", "Step", "StepSpec", "as_json", "run_doctor", "run_steps"]


@dataclass
class Step:
    """The outcome of one check."""

    number: int
    name: str
    status: str  # pass, fail or skip
    summary: str
    cause: str = ""
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when this step found a problem."""
        return self.status == "fail"


@dataclass(frozen=True)
class StepSpec:
    """One step: its number and name, its check, and whether it needs WebSocket upgrades to work."""

    number: int
    name: str
    check: Callable[[Probe], Awaitable[Finding]]
    needs_sockets: bool = False
    # A failure here makes the steps that need sockets pointless: they are skipped.
    opens_sockets: bool = False


STEPS: tuple[StepSpec, ...] = (
    StepSpec(1, "health", checks.health),
    StepSpec(2, "websocket upgrade", checks.upgrades, opens_sockets=True),
    StepSpec(3, "round trip", checks.round_trip, needs_sockets=True),
    StepSpec(4, "multi-process delivery", checks.multi_process, needs_sockets=True),
    StepSpec(5, "heartbeat", checks.heartbeat, needs_sockets=True),
    StepSpec(6, "embedding and origin", checks.embedding),
)


async def run_steps(options: DoctorOptions, steps: tuple[StepSpec, ...] = STEPS) -> list[Step]:
    """Every step in order; socket steps are skipped when sockets cannot open at all."""
    outcomes: list[Step] = []
    blocked_by: StepSpec | None = None
    async with Probe(options) as probe:
        for spec in steps:
            if spec.needs_sockets and blocked_by is not None:
                finding = checks.skipped(f"WebSocket upgrades fail (step {blocked_by.number}); fix that first")
            else:
                finding = await _guarded(spec, probe)
            step = Step(spec.number, spec.name, **asdict(finding))
            if spec.opens_sockets and step.failed:
                blocked_by = spec
            outcomes.append(step)
    return outcomes


async def _guarded(spec: StepSpec, probe: Probe) -> Finding:
    # A check that breaks in an unforeseen way is reported, and the others still run.
    try:
        return await spec.check(probe)
    except Exception as exc:
        return checks.failed("the check could not complete", f"{type(exc).__name__}: {exc}", "")


def run_doctor(options: DoctorOptions) -> list[Step]:
    """Run every step and return the outcomes."""
    return asyncio.run(run_steps(options))


def as_json(steps: list[Step]) -> str:
    """The outcomes for scripts."""
    return json.dumps({"ok": not any(s.failed for s in steps), "steps": [asdict(s) for s in steps]}, indent=2)
