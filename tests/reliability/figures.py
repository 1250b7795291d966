"""Figures the suite reports: process memory, and test-artifacts/reliability.json."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.reliability.profile import PROFILE
from tests.support.processes import ROOT

REPORT = ROOT / "test-artifacts" / "reliability.json"
# Sections recorded by this pytest run, printed in the terminal summary.
RECORDED: dict[str, dict[str, Any]] = {}


def rss_kib(pid: int) -> int:
    """Resident memory of a process (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def rss_mib(pid: int) -> float:
    """Resident memory of a process, in MiB, rounded to 0.1."""
    return round(rss_kib(pid) / 1024, 1)


def record(section: str, figures: dict[str, Any]) -> None:
    """Store one section of figures in the report (sections of other profiles are kept apart)."""
    RECORDED[section] = figures
    REPORT.parent.mkdir(exist_ok=True)
    try:
        report = json.loads(REPORT.read_text())
    except (OSError, ValueError):
        report = {}
    profile = report.setdefault(PROFILE, {})
    profile[section] = {**figures, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
