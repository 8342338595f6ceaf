"""One full run of the HTTP benchmark: every engine's databases and servers prepared, the
rounds measured, the events checked, the missed targets profiled and diagnosed, then the servers
stopped, the databases dropped and the report written."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import _data
import _profile
from _common import log
from _diagnostics import diagnose
from _machine import engine_versions, git_commit, machine
from _measure import aggregate, measure, profile, profiles_wanted
from _report import import_section, print_summary, write_report
from _scenarios import (
    EngineSetup,
    build_scenarios,
    discover_routes,
    prepare_engine,
    prepare_events,
)
from _servers import REDIS_URL, make_secrets, redis_reachable, server_env, start_server, teardown
from _targets import p99_checks, ratios, sequential_ratios


def run(args, engines: list[str], command: str) -> int:
    """The whole benchmark; its exit status (1 when PostgreSQL was skipped, an event was not
    one state change or, with --check, a target was missed)."""
    started_wall = time.monotonic()
    info = machine()
    notes: list[str] = []
    routes = discover_routes()
    if routes["guest"] is None:
        log("no tenant offers the guest lookup: nothing to measure")
        return 2
    try:
        customer_ready = routes["accounts"] is not None and bool(
            __import__("gaspay.accounts.services", fromlist=["create_customer"])
        )
    except ImportError:
        customer_ready = False
    if not customer_ready:
        routes["accounts"] = None
        notes.append(
            "notices: skipped, the app has no customer notice list route "
            "(`<tenant>.accounts.notices`); the scenario runs as soon as it exists."
        )
    if not redis_reachable():
        # Production refuses memory:// rate limits, and the servers run as in production.
        raise SystemExit(
            "the HTTP benchmark needs Redis on 127.0.0.1:6379: redis-server --daemonize yes"
        )
    limits_store = REDIS_URL
    secrets_ = make_secrets(routes["prefixes"], routes["guest_prefix"])
    events_secret = secrets_["wompi"][f"GASPAY_{routes['guest_prefix']}_WOMPI_EVENTS_SECRET"]
    today = dt.datetime.now(dt.UTC).date()
    now = dt.datetime.now(dt.UTC)

    setups: dict[str, EngineSetup] = {}
    profiles: list[dict] = []
    diagnostics: dict = {}
    status = 0
    with tempfile.TemporaryDirectory(prefix="gaspay-http-bench-") as tmp:
        workdir = Path(tmp)
        try:
            for engine in engines:
                try:
                    setup = prepare_engine(engine, args, workdir, routes, today, now)
                except Exception as exc:
                    if engine == "postgresql" and "connect" in str(exc).lower():
                        notes.append(f"postgresql skipped: unreachable at {args.pg_url} ({exc})")
                        log(f"SKIPPED postgresql: {exc}")
                        status = 1
                        continue
                    raise
                setups[engine] = setup
                serve_engine(
                    setup, args, workdir, routes, secrets_, events_secret, limits_store, today, now
                )
            if not setups:
                raise RuntimeError("no engine could be prepared")
            versions = engine_versions(setups)
            rows, busy_before = measure(setups, args, workdir)
            agg = aggregate(rows)
            ratio_rows = ratios(rows, list(setups), args.small_rows, args.large_rows)
            ratio_rows += sequential_ratios(setups, args.small_rows, args.large_rows)
            p99 = p99_checks(agg, list(setups))

            if not events_applied_once(setups, rows, notes):
                status = 1

            want = profiles_wanted(args.profile, setups, ratio_rows, p99)
            if want and _profile.available() is None:
                notes.append("py-spy is not installed: no profiles (pip install py-spy)")
                want = []
            for engine, scenario in want[:6]:
                log(f"profiling {engine} {scenario} at 64 connections ...")
                profiles.append(
                    profile(setups[engine], scenario, 64, args.profile_seconds, workdir)
                )

            for engine, setup in setups.items():
                log(f"{engine}: SQL per request and plans ...")
                try:
                    diagnostics[engine] = diagnose(setup, routes)
                except Exception as exc:
                    notes.append(f"{engine}: diagnostics failed: {exc}")
            for setup in setups.values():
                notes.extend(setup.notes)
        finally:
            teardown(setups, args.pg_url, notes)

    import_lines, import_checks = import_section(Path(args.import_json))
    report = {
        "mode": "quick" if args.quick else "full",
        "command": command,
        "import_command": "python bench/import_bills.py",
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_seconds": time.monotonic() - started_wall,
        "machine": info,
        "commit": git_commit(),
        "engines": list(setups),
        "workers": args.workers,
        "threads": args.threads,
        "rounds": args.rounds,
        "quiet_wait": args.quiet_wait,
        "quiet_threshold": args.quiet_threshold,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "small_rows": args.small_rows,
        "attempts": args.attempts,
        "large_rows": args.large_rows,
        "limits_store": (
            "Redis (127.0.0.1:6379, database 15)" if limits_store != "memory://" else "memory"
        ),
        **versions,
        "cells": {f"{k[0]}|{k[1]}|{k[2]}": v for k, v in agg.items()},
        "rows": rows,
        "ratios": ratio_rows,
        "p99": p99,
        "import_lines": import_lines,
        "import_checks": import_checks,
        "diagnostics": diagnostics,
        "profiles": profiles,
        "notes": notes,
        "load_seconds": {e: s.load_seconds for e, s in setups.items()},
        "busy_before_rounds": busy_before,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }
    print_summary(report)
    out, json_out = Path(args.out), Path(args.json)
    write_report(report, out, json_out)
    log(f"\nwrote {out} and {json_out} in {report['wall_seconds'] / 60:.1f} min")
    missed = [r for r in ratio_rows if r["met"] is False] + [c for c in p99 if not c["met"]]
    if args.check and missed:
        status = 1
    return status


def serve_engine(
    setup: EngineSetup,
    args,
    workdir: Path,
    routes,
    secrets_,
    events_secret,
    limits_store,
    today,
    now,
) -> None:
    """The rest of an engine's data (the customer, the signed events), its three servers
    started with the production configuration, and every scenario checked once."""
    engine = setup.engine
    if routes["accounts"]:
        setup.customer = _data.load_customer(
            setup.small.db_url, routes["accounts"]["slug"], today=today, now=now
        )
    prepare_events(setup, args, workdir, routes, events_secret, now)
    _data.analyze(setup.small.db_url)
    _data.analyze(setup.events.db_url)
    _data.analyze(setup.large.db_url)
    for server in (setup.small, setup.large, setup.events):
        server.env = server_env(server.db_url, secrets_, workdir, limits_store)
        start_server(server, workdir, args.workers, args.threads)
    build_scenarios(setup, routes, workdir)
    log(
        f"{engine}: servers up ({setup.small.base}, {setup.large.base}, "
        f"{setup.events.base}); "
        + "; ".join(f"{k}: {s.check}" for k, s in setup.scenarios.items() if s.check)
    )


def events_applied_once(setups: dict[str, EngineSetup], rows: list[dict], notes: list[str]) -> bool:
    """Whether every event sent was recorded as one state change (a note per engine either way)."""
    ok = True
    for engine, setup in setups.items():
        outcomes = _data.count_event_outcomes(setup.events.db_url)
        events = [r for r in rows if r["engine"] == engine and r["scenario"] == "events"]
        sent = sum(r["requests"] for r in events)
        wrapped = sum(r["wrapped"] for r in events)
        other = {k: v for k, v in outcomes.items() if k != "applied"}
        applied = outcomes.get("applied", 0)
        written = _data.count_outbox_messages(setup.events.db_url)
        notes.append(
            f"{engine} events: {applied:,} recorded as applied (each "
            f"one attempt pending → approved) for {sent:,} measured responses plus "
            "warm-up and checks; "
            + (f"other outcomes {other}" if other else "no other outcome")
            + (f"; {wrapped} slices ran out and repeated events" if wrapped else "")
            + "; outbox messages written in the same transactions: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(written.items()))
            + "."
        )
        # Each approval writes its receipt e-mail and its webhook, or the figure is not the
        # one the issue asks for (events with the outbox writes included).
        if other or wrapped or any(v != applied for v in written.values()) or len(written) < 2:
            ok = False
    return ok
