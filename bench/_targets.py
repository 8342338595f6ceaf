"""The targets of the HTTP benchmark and the ratios checked against them: each scenario's
req/s over its bare ceiling, the lookup's time at the large size over the small, p99s."""

from __future__ import annotations

import statistics

from _common import CONNECTIONS, rows_label

TARGETS = {
    "lookup_ratio": 0.60,
    "p99_ms": 50.0,
    "scale_ratio": 1.2,
    "events_ratio": 0.40,
    "import_seconds": 60.0,
    "import_peak_mb": 200.0,
}


RATIOS = (
    # name, numerator, denominator, target, kind ("min": at least, "max": at most)
    ("lookup / bare GET", "lookup", "bare_get", TARGETS["lookup_ratio"], "min"),
    # how far the target is from the floor: one query alone, then the rest of the lookup
    ("query floor / bare GET", "query_floor", "bare_get", None, None),
    ("lookup / query floor", "lookup", "query_floor", None, None),
    ("notices / bare GET", "notices", "bare_get", None, None),
    ("events / bare POST", "events", "bare_post", TARGETS["events_ratio"], "min"),
    ("static / bare GET", "static", "bare_get", None, None),
    # time per request at 1 M over 10 k = req/s at 10 k over req/s at 1 M (same connections)
    ("lookup time at 1 M / at 10 k", "lookup", "lookup_1m", TARGETS["scale_ratio"], "max"),
)


def ratios(rows: list[dict], engines: list[str], small: int, large: int) -> list[dict]:
    """Per round, then the median over rounds (the cells of one round ran close in time)."""
    by = {(r["engine"], r["scenario"], r["conns"], r["round"]): r for r in rows}
    rounds = sorted({r["round"] for r in rows})
    out = []
    for engine in engines:
        for conns in CONNECTIONS:
            for name, num, den, target, kind in RATIOS:
                values, p50s = [], []
                for rnd in rounds:
                    a, b = by.get((engine, num, conns, rnd)), by.get((engine, den, conns, rnd))
                    if a and b and a["rps"] and b["rps"]:
                        values.append(a["rps"] / b["rps"])
                        if b["p50_ms"]:
                            p50s.append(b["p50_ms"] / a["p50_ms"] if a["p50_ms"] else 0)
                if not values:
                    continue
                value = statistics.median(values)
                met = None
                if target is not None:
                    met = value >= target if kind == "min" else value <= target
                extra = {}
                if num == "lookup" and den == "lookup_1m" and p50s:
                    extra["p50_ratio"] = statistics.median(p50s)
                out.append(
                    {
                        "engine": engine,
                        "conns": conns,
                        "name": name.replace("1 M", rows_label(large)).replace(
                            "10 k", rows_label(small)
                        ),
                        "value": value,
                        "per_round": [round(v, 3) for v in values],
                        "target": target,
                        "kind": kind,
                        "met": met,
                        **extra,
                    }
                )
    return out


def sequential_ratios(setups: dict, small: int, large: int) -> list[dict]:
    """Time of one lookup alone (1 connection, one at a time) at the large size over the small."""
    out = []
    for engine, setup in setups.items():
        a, b = setup.scenarios.get("lookup"), setup.scenarios.get("lookup_1m")
        if not (a and b and a.sequential_ms and b.sequential_ms):
            continue
        value = statistics.median(b.sequential_ms) / statistics.median(a.sequential_ms)
        out.append(
            {
                "engine": engine,
                "conns": 1,
                "name": f"lookup time at {rows_label(large)} / at {rows_label(small)}, alone",
                "value": value,
                "per_round": [],
                "target": TARGETS["scale_ratio"],
                "kind": "max",
                "met": value <= TARGETS["scale_ratio"],
                "alone_ms": [
                    statistics.median(a.sequential_ms),
                    statistics.median(b.sequential_ms),
                ],
            }
        )
    return out


def p99_checks(agg: dict, engines: list[str]) -> list[dict]:
    out = []
    for engine in engines:
        for scenario in ("lookup", "lookup_1m", "notices", "events"):
            cell = agg.get((engine, scenario, 64))
            if cell:
                out.append(
                    {
                        "engine": engine,
                        "scenario": scenario,
                        "p99_ms": cell["p99_ms"],
                        "p99_worst_ms": cell["p99_worst_ms"],
                        "met": cell["p99_ms"] <= TARGETS["p99_ms"],
                    }
                )
    return out


def fmt_ratio(r: dict) -> str:
    if r["target"] is None:
        return "—"
    sign = "≥" if r["kind"] == "min" else "≤"
    return f"{sign} {r['target']:.2f}"


def verdict(met) -> str:
    return "—" if met is None else ("met" if met else "**not met**")
