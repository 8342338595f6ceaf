"""The report of the HTTP benchmark: docs/BENCHMARKS.md rendered from the JSON report, the
import section read from bench/import_bills.py's JSON, and the summary printed at the end."""

from __future__ import annotations

import json
from pathlib import Path

import _profile
import _wrk
from _common import CONNECTIONS, LABELS, LOOKUP_NUMBERS, ROOT, SCENARIOS, log, rows_label
from _findings import findings
from _measure import cells_by_key
from _targets import TARGETS, fmt_ratio, verdict


def labels(report: dict) -> dict:
    out = dict(LABELS)
    out["lookup"] = f"guest lookup, htmx ({rows_label(report['small_rows'])} bills)"
    out["lookup_1m"] = f"guest lookup, htmx ({rows_label(report['large_rows'])} bills)"
    return out


def import_section(import_json: Path) -> tuple[list[str], list[dict]]:
    lines = ["## Import (bench/import_bills.py)", ""]
    checks: list[dict] = []
    if not import_json.exists():
        lines += [f"No `{import_json.relative_to(ROOT)}`: run `python bench/import_bills.py`.", ""]
        return lines, checks
    data = json.loads(import_json.read_text())
    lines += [
        f"`{data.get('command', 'python bench/import_bills.py')}` — {data.get('rows', 0):,} "
        f"generated bills, finished {data.get('finished_at', '?')}. Each import runs in its own "
        "child process (validate, then short batched writes, then a re-import).",
        "",
        "| engine | rows | seconds | rows/s | peak RSS MB | re-import s | target "
        f"(≤ {TARGETS['import_seconds']:.0f} s, ≤ {TARGETS['import_peak_mb']:.0f} MB) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in data.get("results", []):
        peak = max(r.get("peak_rss_mb", 0), r.get("peak_rss_reimport_mb", 0))
        met = r.get("targets", {}).get("met")
        lines.append(
            f"| {r['engine']} | {data.get('rows', 0):,} | {r['import_seconds']:.1f} | "
            f"{r['rows_per_second']:,.0f} | {peak:.0f} | {r['reimport_seconds']:.1f} | "
            f"{verdict(met)} |"
        )
        checks.append(
            {
                "engine": r["engine"],
                "met": met,
                "seconds": r["import_seconds"],
                "rows": data.get("rows", 0),
                "peak_mb": peak,
            }
        )
    for engine, reason in (data.get("skipped") or {}).items():
        lines.append(f"| {engine} | — | — | — | — | — | {reason} |")
    lines.append("")
    return lines, checks


def render(report: dict) -> str:
    m = report["machine"]
    engines = report["engines"]
    agg = cells_by_key(report)
    lines = [
        "# Benchmarks",
        "",
        f"Written by `bench/http_bench.py` ({report['mode']} run) on {report['finished_at']}; "
        "regenerate with `make bench` rather than editing by hand.",
        "",
        "## Machine and command",
        "",
        f"- CPU: {m['cpu_model']}, {m['nproc']} CPUs available (nproc); RAM {m['ram']}; "
        f"load average at start {m['loadavg_start']}.",
        f"- {m['os']}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + f"; {m['wrk'] or 'wrk'}; PostgreSQL {report.get('pg_version') or '—'}; "
        f"SQLite {report.get('sqlite_version')}.",
        f"- Commit {report['commit']}.",
        f"- Command: `make bench` (= `{report['import_command']}` then `{report['command']}`).",
        f"- Wall time of the HTTP benchmark: {report['wall_seconds'] / 60:.1f} min. Share of "
        "the CPUs busy with other work right before each round (the run waits up to "
        f"{report['quiet_wait']:g} s for it to fall under {report['quiet_threshold']:.0%}): "
        + ", ".join(f"{b:.0%}" for b in report["busy_before_rounds"])
        + f"; load average at the end {report['loadavg_end']}.",
        "",
        "## How it is measured",
        "",
        f"- Server: gunicorn {m['versions'].get('gunicorn')} on 127.0.0.1, "
        f"`--workers {report['workers']} --threads {report['threads']}` (gthread: one worker per "
        "CPU, threads to overlap database round trips), entry `bench/_wsgi.py` = the app of "
        "`wsgi.py` plus the bare endpoints of `bench/endpoints.py`.",
        "- Configuration: `GASPAY_ENV=production` with every start-up check (48-character "
        "secret key, `GASPAY_SANDBOX=false`, non-development Wompi keys and secrets for every "
        "tenant, production Wompi URLs), Secure `__Host-` cookies, security headers and "
        "compression as deployed. Rate limits are in "
        f"{report['limits_store']}; the lookup limits are raised "
        "(`GASPAY_LOOKUP_RATE_LIMIT` / `GASPAY_LOOKUP_TARGET_RATE_LIMIT` = 10000000 per minute) "
        "because wrk sends everything from one address: the limiter still does its storage "
        "round trip on every lookup, it just never refuses.",
        f"- Data: {report['small_rows']:,} and {report['large_rows']:,} generated bills "
        "(each in its own database and server), about 4 bills per 3 clients, 5 % paid, a third "
        "overdue, generated set-wise in the database (`INSERT … SELECT` over "
        "`generate_series` / a recursive CTE: the same rows on both engines), then "
        "`VACUUM ANALYZE` on PostgreSQL (what autovacuum does soon after a load; SQLite gets no "
        "ANALYZE, as the app never runs one). The import path itself is the section above. "
        f"The events have a database (and server) of their own: {report['attempts']:,} pending "
        "PSE attempts, each holding its own bill, one per event sent.",
        f"- Load: wrk, {report['rounds']} round(s) × every cell (engine × scenario × "
        f"connections) for {report['seconds']:g} s, in a different seeded order each round, after "
        f"a {report['warmup']:g} s warm-up of each cell. 2 wrk threads; headers of a phone "
        f"browser (`Accept-Encoding: {_wrk.ACCEPT_ENCODING}`). Figures are medians over rounds; "
        'ratios are taken inside each round and their median reported; "p99 worst" is the '
        "worst round.",
        f"- Lookups cycle through {LOOKUP_NUMBERS} existing client numbers (typed with their "
        "leading zeros) with one session cookie and CSRF token, as htmx posts them "
        "(`HX-Request: true`). Events: each request is a distinct authentic `transaction.updated` "
        "APPROVED event (checksum over id, status, amount, timestamp and the tenant's events "
        "secret, also in `X-Event-Checksum`) for its own pending attempt, so each one moves one "
        "attempt pending → approved, pays its bill and records the event; the bare POST sends "
        "the same bodies. The notice list is a full-page GET by a logged-in customer "
        "(12 notices on two client numbers).",
        "- The load generator runs on the same CPUs as the server and the database.",
        "",
    ]
    lines += report["import_lines"]

    # targets
    lines += [
        "## Targets",
        "",
        "PostgreSQL is the production engine and the one the targets apply to; SQLite is shown "
        "for comparison.",
        "",
        "| engine | conns | ratio | value | per round | target | verdict |",
        "|---|---:|---|---:|---|---|---|",
    ]
    for r in report["ratios"]:
        value = f"{r['value']:.2f}"
        if "p50_ratio" in r:
            value += f" (p50: {r['p50_ratio']:.2f})"
        if "alone_ms" in r:
            value += f" ({r['alone_ms'][1]:,.1f} / {r['alone_ms'][0]:,.1f} ms)"
        lines.append(
            f"| {r['engine']} | {r['conns']} | {r['name']} | {value} | "
            f"{', '.join(f'{v:.2f}' for v in r['per_round'])} | {fmt_ratio(r)} | "
            f"{verdict(r['met'])} |"
        )
    for c in report["p99"]:
        lines.append(
            f"| {c['engine']} | 64 | p99 {c['scenario']} (ms) | {c['p99_ms']:.1f} | "
            f"worst {c['p99_worst_ms']:.1f} | ≤ {TARGETS['p99_ms']:.0f} | {verdict(c['met'])} |"
        )
    for c in report["import_checks"]:
        lines.append(
            f"| {c['engine']} | — | import of {rows_label(c['rows'])} bills | "
            f"{c['seconds']:.1f} s, {c['peak_mb']:.0f} MB | — | "
            f"≤ {TARGETS['import_seconds']:.0f} s, ≤ {TARGETS['import_peak_mb']:.0f} MB | "
            f"{verdict(c['met'])} |"
        )
    lines.append("")

    found = findings(report)
    if found:
        lines += [
            "## Where the time goes (from this run's measurements)",
            "",
            *[f"- {f}" for f in found],
            "",
            "Details: the CPU table, the SQL and plans and the profiles below.",
            "",
        ]

    # absolute figures
    head = "| scenario | conns |"
    sep = "|---|---:|"
    for engine in engines:
        head += f" {engine} req/s | p50 ms | p99 ms | p99 worst |"
        sep += "---:|---:|---:|---:|"
    names = labels(report)
    lines += ["## Absolute figures", "", head, sep]
    for scenario in SCENARIOS:
        for conns in CONNECTIONS:
            cells = [agg.get((e, scenario, conns)) for e in engines]
            if not any(cells):
                continue
            row = f"| {names[scenario]} | {conns} |"
            for c in cells:
                row += (
                    f" {c['rps']:,.0f} | {c['p50_ms']:.1f} | {c['p99_ms']:.1f} | "
                    f"{c['p99_worst_ms']:.1f} |"
                    if c
                    else " — | — | — | — |"
                )
            lines.append(row)
    lines.append("")
    errors = [
        f"{k}: {v['errors']} errors ({v['non_2xx_3xx']} HTTP ≥ 400)"
        for k, v in report["cells"].items()
        if v["errors"]
    ]
    lines.append(
        "Errors (wrk: connect/read/write/timeout, and statuses ≥ 400): "
        + ("; ".join(errors) if errors else "none in any cell.")
    )
    lines.append("")

    # CPU per request
    lines += [
        "## CPU per request (ms), 64 connections",
        "",
        "CPU time of each group of processes during the cells divided by the requests served: "
        "where the machine's CPU goes. `postgresql` counts every PostgreSQL process of the "
        "machine; `machine` is all CPUs busy time, anything else running included.",
        "",
        "| engine | scenario | app (gunicorn) | postgresql | redis | wrk | machine |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for engine in engines:
        for scenario in SCENARIOS:
            c = agg.get((engine, scenario, 64))
            if not c:
                continue
            cpu = c["cpu_ms_per_request"]
            groups = ("app", "postgresql", "redis", "wrk", "machine")
            values = " | ".join("—" if cpu[g] is None else f"{cpu[g]:.2f}" for g in groups)
            lines.append(f"| {engine} | {scenario} | {values} |")
    lines.append("")

    # SQL per request
    lines += [
        "## SQL per request and query plans",
        "",
        "One request of each kind through the Flask test client with the servers' configuration, "
        "after the runs; every statement it sent is counted, and each SELECT/UPDATE/DELETE is "
        "explained (`EXPLAIN (ANALYZE, BUFFERS)` for PostgreSQL SELECTs, `EXPLAIN QUERY PLAN` "
        "on SQLite).",
        "",
    ]
    for engine in engines:
        for scenario, d in (report["diagnostics"].get(engine) or {}).items():
            lines += [
                f"### {engine}: {scenario} ({d['database_rows']:,} bills) — "
                f"{d['statements']} SQL statements"
                + (f", {d['redis_commands']} Redis commands" if d["redis_commands"] else "")
                + f", HTTP {d['status']}",
                "",
                "Besides the statements: "
                + ", ".join(f"{v} {k}" for k, v in sorted(d["transaction_calls"].items()))
                + (
                    " (each checkout runs `pool_pre_ping`: one more round trip)"
                    if d["pre_ping"] and d["transaction_calls"].get("pool checkout")
                    else ""
                )
                + ".",
                "",
                "```",
                *[f"{i + 1:>2}. {s}" for i, s in enumerate(d["sql"])],
                "```",
                "",
            ]
            for p in d["plans"]:
                lines += ["```", p["sql"][:300], *[f"    {x}" for x in p["plan"]], "```", ""]
    # profiles
    if report["profiles"]:
        lines += [
            "## Profiles",
            "",
            "py-spy (`record --subprocesses --gil`, 100 Hz per worker) on the gunicorn workers "
            "while wrk ran the cell at 64 connections: each sample is the stack of the thread "
            "holding the GIL, and only samples inside request handling are kept, so the shares "
            "are of the workers' Python CPU time per request. Waits for PostgreSQL or Redis are "
            'not in it (the CPU table above has those processes). "where" is the package of '
            'the innermost frame; "inclusive" counts a function wherever it is on the stack. '
            "Raw stacks: `bench/out/profile-*.txt`.",
            "",
        ]
        for p in report["profiles"]:
            lines += [
                f"### {p['engine']}: {p['scenario']} at {p['conns']} connections "
                f"({p.get('samples', 0):,} samples, {p['rps_while_profiled']:,.0f} req/s "
                "while profiled)",
                "",
            ]
            if not p.get("samples"):
                lines += [f"No samples: {' '.join(p.get('pyspy', []))}", ""]
                continue
            lines += ["| where (leaf frame's package) | share |", "|---|---:|"]
            lines += [f"| {k} | {v:.0%} |" for k, v in p["by_package"]]
            lines += ["", "| function (inclusive) | share |", "|---|---:|"]
            lines += [f"| `{k}` | {v:.0%} |" for k, v in p["inclusive"]]
            lines.append("")
    if report["notes"]:
        lines += ["## Notes", "", *[f"- {n}" for n in report["notes"]], ""]
    return "\n".join(lines)


def print_summary(report: dict) -> None:
    engines = report["engines"]
    agg = cells_by_key(report)
    log("")
    log(f"{'scenario':<12} {'conns':>5} " + " ".join(f"{e:>28}" for e in engines))
    log(f"{'':<12} {'':>5} " + " ".join(f"{'req/s   p50 ms   p99 ms':>28}" for _ in engines))
    for scenario in SCENARIOS:
        for conns in CONNECTIONS:
            cells = [agg.get((e, scenario, conns)) for e in engines]
            if not any(cells):
                continue
            parts = [
                f"{c['rps']:>10,.0f} {c['p50_ms']:>8.1f} {c['p99_ms']:>8.1f}" if c else f"{'—':>28}"
                for c in cells
            ]
            log(f"{scenario:<12} {conns:>5} " + " ".join(f"{p:>28}" for p in parts))
    log("")
    for r in report["ratios"]:
        target = "" if r["target"] is None else f"  (target {fmt_ratio(r)}: {verdict(r['met'])})"
        log(f"{r['engine']:<10} {r['conns']:>3} conns  {r['name']:<30} {r['value']:6.2f}{target}")
    for c in report["p99"]:
        log(
            f"{c['engine']:<10}  64 conns  p99 {c['scenario']:<26} {c['p99_ms']:6.1f} ms"
            f"  (target ≤ {TARGETS['p99_ms']:.0f}: {verdict(c['met'])})"
        )
    for n in report["notes"]:
        log(f"note: {n}")


def write_report(report: dict, out: Path, json_out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report) + "\n")
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")


def render_saved(json_path: Path, out: Path) -> int:
    """Re-render the Markdown from a saved report (profiles re-read from their raw stacks)."""
    report = json.loads(json_path.read_text())
    for p in report["profiles"]:
        raw = ROOT / p.get("raw", "")
        if p.get("raw") and raw.exists():
            p.update(_profile.summarise(raw))
    out.write_text(render(report) + "\n")
    log(f"wrote {out}")
    return 0
