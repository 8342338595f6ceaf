"""What a run's own measurements say about each missed target: CPU per request against the
ceiling, SQL statements, profile hot spots, Little's law for p99, and query plans that read
far more rows than they return."""

from __future__ import annotations

import re

from _common import LABELS
from _measure import cells_by_key
from _targets import TARGETS

PLAN_SCAN_PG = re.compile(r"Seq Scan on (\w+)")
PLAN_REMOVED = re.compile(r"Rows Removed by Filter: (\d+)")
PLAN_SCAN_SQLITE = re.compile(r"^(?:SCAN (\w+)$|SEARCH (\w+) USING INDEX (\w+) \(tenant=\?\)$)")


def plan_warnings(diagnostics: dict) -> list[str]:
    """Plans that read far more rows than they return: a missing or unusable index."""
    out = []
    for engine, scenarios in diagnostics.items():
        for scenario, d in scenarios.items():
            for p in d["plans"]:
                text = "\n".join(p["plan"])
                removed = sum(int(n) for n in PLAN_REMOVED.findall(text))
                where = p["sql"].split(" WHERE ", 1)[-1][:140] if " WHERE " in p["sql"] else ""
                for table in PLAN_SCAN_PG.findall(text):
                    if removed >= 1000:
                        out.append(
                            f"{engine} {scenario}: sequential scan of `{table}` "
                            f"({removed:,} rows read and thrown away) for `… WHERE {where}`"
                        )
                for line in p["plan"]:
                    m = PLAN_SCAN_SQLITE.match(line.strip())
                    if m:
                        table = m.group(1) or m.group(2)
                        how = (
                            "a full scan"
                            if m.group(1)
                            else f"only the `tenant` column of index `{m.group(3)}`, so every "
                            "row of the tenant is read"
                        )
                        out.append(
                            f"{engine} {scenario}: `{table}` is read with {how}, for "
                            f"`… WHERE {where}`"
                        )
    return out


def findings(report: dict) -> list[str]:
    """What the measurements say about each missed target, from this run's own data."""
    agg = cells_by_key(report)
    out = []
    pg = report["engines"][0] if report["engines"] else None
    diag = report["diagnostics"].get(pg, {})
    prof = {p["scenario"]: p for p in report["profiles"] if p["engine"] == pg}
    ceiling = {"lookup": "bare_get", "notices": "bare_get", "events": "bare_post"}
    for scenario, base in ceiling.items():
        c, b = agg.get((pg, scenario, 64)), agg.get((pg, base, 64))
        if not c or not b:
            continue
        app, app0 = c["cpu_ms_per_request"]["app"], b["cpu_ms_per_request"]["app"]
        dbcpu = c["cpu_ms_per_request"]["postgresql"]
        line = (
            f"{pg} {scenario}: {app:.2f} ms of worker CPU per request against {app0:.2f} ms for "
            f"the {LABELS[base].split(' (')[0]} (×{app / app0:.1f}), plus {dbcpu:.2f} ms of "
            "PostgreSQL CPU"
        )
        d = diag.get(scenario)
        if d:
            calls = d["transaction_calls"]
            line += (
                f"; {d['statements']} SQL statements in {calls.get('BEGIN', 0)} transaction(s) "
                f"with {calls.get('pool checkout', 0)} pool checkout(s)"
                + (" (each with a pre-ping round trip)" if d["pre_ping"] else "")
                + (f", {d['redis_commands']} Redis commands" if d["redis_commands"] else "")
            )
        p = prof.get(scenario)
        if p and p.get("focus"):
            parts = [f"{name} {share:.0%}" for name, share in p["focus"][:8]]
            line += "; worker CPU in: " + ", ".join(parts)
        out.append(line + ".")
    floor = _floor_finding(report, pg)
    if floor:
        out.append(floor)
    for c in report["p99"]:
        if c["engine"] == pg and not c["met"]:
            cell = agg.get((pg, c["scenario"], 64))
            out.append(
                f"{pg} p99 {c['scenario']} at 64 connections: with 64 requests always in flight, "
                f"the mean latency is 64 / {cell['rps']:,.0f} req/s = "
                f"{64000 / cell['rps']:.0f} ms (Little's law), so p99 ≤ 50 ms at 64 connections "
                "needs more than 64 / 0.050 s = 1,280 req/s: the latency is queueing behind the "
                "throughput, not one slow step."
            )
    out += plan_warnings(report["diagnostics"])
    return out


def _floor_finding(report: dict, engine: str | None) -> str | None:
    """How far the lookup target is from what one database read leaves (query_floor cells)."""
    value = {
        r["name"]: r["value"]
        for r in report["ratios"]
        if r["engine"] == engine and r["conns"] == 64
    }
    floor, rest = value.get("query floor / bare GET"), value.get("lookup / query floor")
    lookup = value.get("lookup / bare GET")
    if floor is None or rest is None or lookup is None:
        return None
    target = TARGETS["lookup_ratio"]
    verdict = (
        "below the target already, before the form, the rate limits and the template: no lookup "
        "that reads the database once can reach it on this machine"
        if floor < target
        else "above the target: the rest of the lookup is where the gap is"
    )
    return (
        f"{engine} floor at 64 connections: the bare GET plus only the lookup's query "
        f"(`/_bench/query`, one indexed ORM select) reaches {floor:.2f} of the bare GET, "
        f"{verdict}; the rest of the lookup (CSRF check, two rate-limit round trips to Redis, the "
        f"holds query, the template, compression) takes it from there to {lookup:.2f} "
        f"(lookup / floor {rest:.2f}). An event writes, which costs more than that one read, "
        f"so the events target ({TARGETS['events_ratio']:.2f} of the bare POST) is above this "
        "floor too."
    )
