"""``python -m bench``: one measurement (``run``), the whole table (``suite``), or a table from results."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.runner import LoadPlan, measure
from bench.stats import machine
from bench.targets import Shape, make_target, services_available
from bench.texts import mean_size_bytes

RESULTS = Path(__file__).resolve().parent / "results"

SHAPES = {
    # Chat: every dialog has its visitor, two operators with it open, and one inbox per 10 dialogs.
    "chat": Shape(dialogs=100, operators=2, dialogs_per_owner=10, inbox_per_owner=1),
    # Fan-out: 1,000 sockets in 20 dialogs of 50, the most replyx lets one dialog have by default
    # (visitor, 48 operator windows, the owner's inbox): each stored message goes to 50 sockets.
    "fanout": Shape(dialogs=20, operators=48, dialogs_per_owner=1, inbox_per_owner=1),
    # Idle: 10,100 sockets that only connect (memory per socket, connect rate).
    "idle": Shape(dialogs=1000, operators=9, dialogs_per_owner=10, inbox_per_owner=1),
}


def _case(
    key: str, target: str, shape: str, *, deflate: bool = False, env: dict[str, str] | None = None, load: bool = True
) -> dict[str, Any]:
    return {"key": key, "target": target, "shape": shape, "deflate": deflate, "env": env or {}, "load": load}


def suite_cases(quick: bool) -> list[dict[str, Any]]:
    """The configurations of the table in docs/performance.md."""
    cases = []
    for deflate in (False, True):
        tag = "deflate" if deflate else "plain"
        for target in ("replyx-sqlite", "fastapi", "socketio"):
            cases.append(_case(f"fanout/{tag}/{target}", target, "fanout", deflate=deflate))
    for target in ("replyx-sqlite", "fastapi", "socketio"):
        cases.append(_case(f"chat/plain/{target}", target, "chat"))
    if services_available():
        for target in ("replyx-pg-redis-1", "replyx-pg-redis-2"):
            cases.append(_case(f"chat/plain/{target}", target, "chat"))
    if not quick:
        # The peers' memory per socket comes from the fan-out rows (1,000 sockets, read before any load).
        cases.append(_case("idle/plain/replyx-sqlite", "replyx-sqlite", "idle", load=False))
    return cases


def choice_cases() -> list[dict[str, Any]]:
    """Figures behind replyx's defaults: uvicorn's ws implementations and server-side deflate."""
    cases = []
    for ws in ("replyx", "websockets-sansio", "websockets", "wsproto"):
        cases.append(_case(f"fanout/plain/replyx-ws-{ws}", "replyx-sqlite", "fanout", env={"REPLYX_WS_IMPL": ws}))
    cases.append(
        _case(
            "fanout/deflate/replyx-server-deflate-on",
            "replyx-sqlite",
            "fanout",
            deflate=True,
            env={"REPLYX_WS_PER_MESSAGE_DEFLATE": "true"},
        )
    )
    return cases


def run_case(
    case: dict[str, Any], plan: LoadPlan, workers: int, shape: Shape | None = None, profile: Path | None = None
) -> dict[str, Any]:
    """Measure one case once."""
    env = dict(case["env"])
    target = make_target(case["target"], env)
    this_plan = plan if case["load"] else LoadPlan(rates=[], warmup_rate=0)
    result = measure(
        target, shape or SHAPES[case["shape"]], this_plan, workers=workers, deflate=case["deflate"], profile=profile
    )
    result["key"] = case["key"]
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians (and spread) over repeated runs of one case."""

    def values(path: str) -> list[float]:
        found = []
        for run in runs:
            value: Any = run
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, int | float):
                found.append(float(value))
        return found

    out: dict[str, Any] = {"runs": len(runs)}
    for name, path in {
        "deliveries_per_s": "best.deliveries_per_s",
        "messages_per_s": "best.messages_per_s",
        "p50_ms": "best.latency.p50_ms",
        "p99_ms": "best.latency.p99_ms",
        "store_p50_ms": "best.store_latency.p50_ms",
        "store_p99_ms": "best.store_latency.p99_ms",
        "server_cpu_pct": "best.server_cpu_pct",
        "client_cpu_pct": "best.client_cpu_pct",
        "machine_cpu_pct": "best.machine_cpu_pct",
        "kb_per_socket": "rss.kb_per_socket",
        "connect_per_s": "connect.per_s",
        "sockets": "connect.opened",
        "deflate_negotiated": "connect.deflate_negotiated",
    }.items():
        found = values(path)
        if found:
            out[name] = statistics.median(found)
            out[name + "_spread"] = (min(found), max(found))
    out["errors"] = [run.get("connect", {}).get("errors") for run in runs]
    return out


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def table(results: dict[str, Any]) -> str:
    """The markdown table of a suite's results, with ratios to the peers of the same run."""
    summaries = {key: summary(runs) for key, runs in results["cases"].items()}
    lines = [
        "| case | deliveries/s at p99 < 50 ms (median, min–max) | msgs/s | p50 / p99 ms | store→socket p50 / p99 ms "
        "| vs FastAPI | vs Socket.IO | server CPU % | client CPU % | machine CPU % | KB per socket | connects/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, s in summaries.items():
        shape, mode, _target = key.split("/", 2)
        ratios = []
        for peer in ("fastapi", "socketio"):
            base = summaries.get(f"{shape}/{mode}/{peer}", {}).get("deliveries_per_s")
            mine = s.get("deliveries_per_s")
            ratios.append(f"{mine / base:.2f}×" if base and mine else "–")
        spread = s.get("deliveries_per_s_spread")
        delivered = _fmt(s.get("deliveries_per_s"))
        if spread:
            delivered += f" ({_fmt(spread[0])}–{_fmt(spread[1])})"
        store = f"{_fmt(s.get('store_p50_ms'), 1)} / {_fmt(s.get('store_p99_ms'), 1)}" if "store_p50_ms" in s else "–"
        lines.append(
            f"| {key} | {delivered} | {_fmt(s.get('messages_per_s'))} "
            f"| {_fmt(s.get('p50_ms'), 1)} / {_fmt(s.get('p99_ms'), 1)} | {store} | {ratios[0]} | {ratios[1]} "
            f"| {_fmt(s.get('server_cpu_pct'))} | {_fmt(s.get('client_cpu_pct'))} | {_fmt(s.get('machine_cpu_pct'))} "
            f"| {_fmt(s.get('kb_per_socket'), 1)} | {_fmt(s.get('connect_per_s'))} |"
        )
    return "\n".join(lines)


def _plan(args: argparse.Namespace) -> LoadPlan:
    return LoadPlan(
        rates=[float(r) for r in (args.rate or [])],
        search=not args.rate,
        start_rate=args.start_rate,
        duration=args.duration,
        max_steps=args.max_steps,
        p99_bound_ms=args.p99,
    )


def _save(results: dict[str, Any], out: Path | None) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = out or RESULTS / time.strftime("suite-%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps(results, indent=1))
    return path


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "suite", "choices"):
        p = sub.add_parser(name)
        p.add_argument("--workers", type=int, default=2, help="client processes")
        p.add_argument("--duration", type=float, default=3.0, help="seconds per load step")
        p.add_argument("--start-rate", type=float, default=50.0, help="messages/s of the first search step")
        p.add_argument("--max-steps", type=int, default=12)
        p.add_argument("--p99", type=float, default=50.0, help="p99 bound in ms of a sustained step")
        p.add_argument("--rate", type=float, action="append", help="fixed rates instead of a search")
        p.add_argument("--out", type=Path, help="results JSON")
        if name == "run":
            p.add_argument(
                "--target", default="replyx-sqlite", help="replyx-sqlite|replyx-pg-redis-1|-2|fastapi|socketio"
            )
            p.add_argument("--shape", default="chat", choices=sorted(SHAPES))
            p.add_argument("--dialogs", type=int)
            p.add_argument("--operators", type=int)
            p.add_argument("--dialogs-per-owner", type=int)
            p.add_argument("--inbox-per-owner", type=int)
            p.add_argument("--deflate", action="store_true", help="the client offers permessage-deflate")
            p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
            p.add_argument("--idle", action="store_true", help="connect only, no load")
            p.add_argument("--profile", type=Path, help="py-spy raw profile of the server during the load")
        else:
            p.add_argument("--repeat", type=int, default=3)
            p.add_argument("--quick", action="store_true", help="skip the 10,000-socket rows")
            p.add_argument("--only", help="run only cases whose key contains this")
    sub.add_parser("table").add_argument("results", type=Path)
    sub.add_parser("top").add_argument("profile", type=Path)
    args = parser.parse_args(argv)

    if args.command == "table":
        print(table(json.loads(args.results.read_text())))
        return 0
    if args.command == "top":
        from bench.profile import top_frames

        print(top_frames(args.profile))
        return 0
    plan = _plan(args)
    header = {
        "machine": machine(),
        "mean_text_bytes": round(mean_size_bytes(), 1),
        "argv": sys.argv,
        "plan": plan.__dict__,
    }
    if args.command == "run":
        base = SHAPES[args.shape]
        shape = Shape(
            dialogs=args.dialogs or base.dialogs,
            operators=base.operators if args.operators is None else args.operators,
            dialogs_per_owner=args.dialogs_per_owner or base.dialogs_per_owner,
            inbox_per_owner=base.inbox_per_owner if args.inbox_per_owner is None else args.inbox_per_owner,
        )
        env = dict(item.split("=", 1) for item in args.env)
        mode = "deflate" if args.deflate else "plain"
        case = _case(f"{args.shape}/{mode}/{args.target}", args.target, args.shape, deflate=args.deflate, env=env)
        case["load"] = not args.idle
        result = run_case(case, plan, args.workers, shape, args.profile)
        results = header | {"cases": {case["key"]: [result]}}
        print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=1, default=str))
        for step in result.get("steps", []):
            print(
                f"rate {step['rate']:8.0f}  msgs/s {step['messages_per_s']:8.0f}"
                f"  deliv/s {step['deliveries_per_s']:9.0f}"
                f"  p50 {step['latency']['p50_ms']:7.1f}  p99 {step['latency']['p99_ms']:7.1f}  got {step['received']}/"
                f"{step['expected']}  srv {step['server_cpu_pct']:4.0f}%  cli {step['client_cpu_pct']:4.0f}%"
                f"  {'ok' if step['sustained'] else 'FAIL'} {step['errors'] or ''}"
            )
        print(f"saved {_save(results, args.out)}")
        return 0
    cases = suite_cases(args.quick) if args.command == "suite" else choice_cases()
    if args.only:
        cases = [c for c in cases if args.only in c["key"]]
    results = header | {"cases": {}}
    for _round in range(args.repeat):
        # Rounds interleave the cases, so a burst of background load spreads over all of them.
        for case in cases:
            started = time.monotonic()
            result = run_case(case, plan, args.workers)
            results["cases"].setdefault(case["key"], []).append(result)
            best = result.get("best") or {}
            print(
                f"{case['key']:<45} deliveries/s {best.get('deliveries_per_s', 0):>9,.0f}  "
                f"p99 {best.get('latency', {}).get('p99_ms', float('nan')):6.1f} ms  "
                f"KB/socket {result['rss']['kb_per_socket'] or 0:5.1f}  ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
            _save(results, args.out)
    path = _save(results, args.out)
    print(table(results))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
