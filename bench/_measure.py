"""Measuring with wrk: one cell (engine × scenario × connections) at a time, the rounds in a
seeded order, the medians over rounds, and py-spy profiles of the cells that miss a target."""

from __future__ import annotations

import contextlib
import random
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import _cpu
import _profile
import _wrk
from _common import CONNECTIONS, ROOT, SCENARIOS, log
from _scenarios import EngineSetup, script_for
from _servers import Server

ORDER_SEED = 20261122


@dataclass
class Cell:
    engine: str
    scenario: str
    conns: int


def run_cell(setup: EngineSetup, cell: Cell, workdir: Path, seconds: float, label: str) -> dict:
    scenario = setup.scenarios[cell.scenario]
    script = script_for(setup, scenario, workdir, cell.conns, label)
    server = scenario.server
    before = _cpu.snapshot(server.pids())
    result = _wrk.run(server.base + scenario.path, script, connections=cell.conns, seconds=seconds)
    after = _cpu.snapshot(server.pids())
    cpu = _cpu.delta(before, after)
    settle(server)
    row = {
        "engine": cell.engine,
        "scenario": cell.scenario,
        "conns": cell.conns,
        "label": label,
        "at": time.time(),
        **{k: getattr(result, k) for k in ("requests", "seconds", "rps", "p50_ms", "p90_ms")},
        **{k: getattr(result, k) for k in ("p99_ms", "p999_ms", "max_ms", "mean_ms")},
        "errors": result.errors,
        "wrapped": result.wrapped,
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
    }
    return row


def settle(server: Server, max_wait: float = 10.0) -> float:
    """Wait until the server has finished what wrk left queued (its CPU goes quiet)."""
    started = time.monotonic()
    pids = server.pids()
    last = _cpu.snapshot(pids)["app"]
    while time.monotonic() - started < max_wait:
        time.sleep(0.25)
        now = _cpu.snapshot(pids)["app"]
        if now - last < 0.02:  # under 8 % of one CPU over the quarter second
            break
        last = now
    return time.monotonic() - started


def measure(setups: dict[str, EngineSetup], args, workdir: Path) -> tuple[list[dict], list[float]]:
    """Every cell warmed up once, then the rounds, each in its own seeded order: the rows of the
    rounds, and the share of the CPUs other work kept busy before each round."""
    cells = [
        Cell(engine, scenario, conns)
        for engine, setup in setups.items()
        for scenario in SCENARIOS
        if scenario in setup.scenarios and not setup.scenarios[scenario].degenerate
        for conns in CONNECTIONS
    ]
    total = len(cells) * (args.rounds * (args.seconds + 0.6))
    log(
        f"\n{len(cells)} cells × {args.rounds} rounds × {args.seconds:g} s "
        f"(about {total / 60:.1f} min), warm-up {args.warmup:g} s each"
    )
    for cell in cells:
        if cell.conns == CONNECTIONS[0]:
            run_cell(setups[cell.engine], cell, workdir, args.warmup, "warmup")
    rows: list[dict] = []
    busy_before: list[float] = []
    for rnd in range(1, args.rounds + 1):
        busy_before.append(
            round(_cpu.wait_for_quiet(args.quiet_threshold, args.quiet_wait, log), 3)
        )
        order = cells[:]
        random.Random(ORDER_SEED + rnd).shuffle(order)
        for cell in order:
            row = run_cell(setups[cell.engine], cell, workdir, args.seconds, f"r{rnd}")
            row["round"] = rnd
            rows.append(row)
            log(
                f"round {rnd} {cell.engine:<10} {cell.scenario:<10} {cell.conns:>2}c "
                f"{row['rps']:>8,.0f} req/s  p50 {row['p50_ms']:6.1f}  "
                f"p99 {row['p99_ms']:6.1f} ms"
                + (f"  errors {row['errors']}" if sum(row["errors"].values()) else "")
            )
    return rows, busy_before


def aggregate(rows: list[dict]) -> dict:
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        cells.setdefault((row["engine"], row["scenario"], row["conns"]), []).append(row)
    out = {}
    for key, items in cells.items():
        requests = sum(i["requests"] for i in items)
        cpu = {k: sum(i["cpu_s"][k] for i in items) for k in items[0]["cpu_s"]}
        out[key] = {
            "rounds": len(items),
            "rps": statistics.median(i["rps"] for i in items),
            "rps_all": [round(i["rps"], 1) for i in items],
            "p50_ms": statistics.median(i["p50_ms"] for i in items),
            "p99_ms": statistics.median(i["p99_ms"] for i in items),
            "p99_worst_ms": max(i["p99_ms"] for i in items),
            "requests": requests,
            "errors": sum(sum(i["errors"].values()) for i in items),
            "non_2xx_3xx": sum(i["errors"]["status"] for i in items),
            "wrapped": sum(i["wrapped"] for i in items),
            "cpu_ms_per_request": {
                k: round(1000 * v / requests, 3) if requests else None for k, v in cpu.items()
            },
        }
    return out


def cells_by_key(report: dict) -> dict:
    """The aggregated cells of a saved report, keyed (engine, scenario, conns) again."""
    out = {}
    for key, value in report["cells"].items():
        engine, scenario, conns = key.split("|")
        out[(engine, scenario, int(conns))] = value
    return out


def profiles_wanted(mode: str, setups: dict[str, EngineSetup], ratio_rows, p99) -> list:
    """(engine, scenario) pairs to profile: where a target is missed, and the ceiling for
    comparison (``mode`` "always": the lookup and the events too, on every engine)."""
    if mode == "never":
        return []
    missed = {(r["engine"], r["name"]) for r in ratio_rows if r["met"] is False} | {
        (c["engine"], "p99 " + c["scenario"]) for c in p99 if not c["met"]
    }
    want = []
    for engine in setups:
        names = {n for e, n in missed if e == engine}
        scen = set()
        if any(n.startswith("lookup /") or n == "p99 lookup" for n in names):
            scen.add("lookup")
        if any(n.startswith("lookup time") or n == "p99 lookup_1m" for n in names):
            scen.add("lookup_1m")
        if any(n.startswith("events") or n == "p99 events" for n in names):
            scen.add("events")
        if "p99 notices" in names:
            scen.add("notices")
        if mode == "always":
            scen |= {"lookup", "events"} & set(setups[engine].scenarios)
        if engine != next(iter(setups)) and mode != "always":
            continue  # the targets are PostgreSQL's; SQLite has its plans below
        if scen:
            scen.add("bare_get")
        scenarios = setups[engine].scenarios
        want += [
            (engine, s)
            for s in SCENARIOS
            if s in scen and s in scenarios and not scenarios[s].degenerate
        ]
    return want


def profile(setup: EngineSetup, scenario: str, conns: int, seconds: float, workdir: Path) -> dict:
    server = setup.scenarios[scenario].server
    out = workdir / f"profile-{setup.engine}-{scenario}-{conns}.txt"
    spy = _profile.start(server.proc.pid, seconds, out)
    time.sleep(1.0)  # let py-spy attach to every worker
    cell = Cell(setup.engine, scenario, conns)
    row = run_cell(setup, cell, workdir, seconds, "profile")
    try:
        spy_out, _ = spy.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy_out = "py-spy did not finish"
    summary = _profile.summarise(out)
    summary.update(
        engine=setup.engine,
        scenario=scenario,
        conns=conns,
        rps_while_profiled=round(row["rps"], 1),
        pyspy=(spy_out or "").strip().splitlines()[-1:] if not summary.get("samples") else [],
    )
    keep = ROOT / "bench" / "out" / out.name
    with contextlib.suppress(OSError):
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, keep)
        summary["raw"] = str(keep.relative_to(ROOT))
    return summary
