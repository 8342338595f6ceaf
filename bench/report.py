"""bench/out/*.json -> docs/BENCHMARKS.md and the README's table (bench/README.md); --quick."""

import json
import re
import sys

from common import OUT, ROOT, options

BLOCK = re.compile(r"^(\w+): (.*?)\n*(?=^\w+: |\Z)", re.M | re.S)  # bench/report.md: name: prose
PROSE = dict(BLOCK.findall((ROOT / "bench" / "report.md").read_text()))
NA = "not measured (run python bench/phone.py)"
INFO = ("lookup / bare GET", "events / bare POST", "lookup / driver floor")
STEPS = ("first page", "bill after Continuar", "PSE step")
SCEN = {"bare_get": "bare GET (ceiling)", "bare_post": "bare POST (ceiling)",
        "query_floor": "bare GET + the lookup's query (ORM)",
        "driver_floor": "bare GET + the same read through psycopg alone",
        "write_floor": "bare POST + one short write transaction",
        "lookup": "guest lookup, 10 k bills", "lookup_1m": "guest lookup, 1 M bills",
        "notices": "customer's notice list", "events": "Wompi events (stored; one approval each)",
        "static": "static file"}  # fmt: skip


def load(name: str) -> dict | None:  # bench/out/<name>.json as common.save wrote it, if it did
    data = json.loads(path.read_text()) if (path := OUT / f"{name}.json").exists() else {}
    return data if "wall_s" in data else None


def verdict(met) -> str:
    return "—" if met is None else "met" if met else "**not met**"


def table(head: list[str], rows) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(map(str, row)) + " |" for row in rows] + [""]


def spec(columns: str, items) -> list[str]:  # a table from "header=format|…", one row an item
    cols = [c.split("=", 1) for c in columns.split("|")]
    return table([h for h, _ in cols], [[f.format(**i) for _, f in cols] for i in items])


def f2(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def targets(imp, http, staff, phone) -> list[tuple]:
    """(engine, what, value, per round, target, met): every row of the targets table."""
    out, pg, http = [], "postgresql", http or {}
    for r in (imp or {}).get("results", []):
        value = r.get("error") or f"{r['import_s']:.1f} s, {r['rows_s']:,.0f} rows/s, "
        value += "" if "error" in r else f"{r['peak_mb']:.0f} MB peak"
        what, goal = f"import of {imp['rows']:,} bills", f"≤ {60 * imp['rows'] / 1e6:g} s, ≤ 200 MB"
        out.append((r["engine"], what, value, "", goal, r.get("met", False)))
    for x in http.get("ratios", []):
        if x["conns"] == 64 and ((t := x["target"]) or x["name"] in INFO):
            goal = f"{t[0].replace('>=', '≥').replace('<=', '≤')} {t[1]:.2f}" if t else "—"
            row = (x["engine"], x["name"] + " (64 conns)", f"{x['value']:.2f}", f2(x["per_round"]))
            out.append((*row, goal, x["met"]))
    if c := http.get("constant_rate"):
        value = "{p99_ms:.1f} ms (p50 {p50_ms:.1f}; {achieved:.0f} of {offered:.0f} req/s offered)"
        what = "lookup p99, constant rate: half its capacity"
        out.append((pg, what, value.format(**c), "", "≤ 20 ms", c["met"]))
    if staff:
        q = [x for x in staff["queries"] if x["met"] is not None]
        worst, peak = max(q, key=lambda x: x["p50"]), max(e["peak"] for e in staff["exports"])
        value = f"{q[0]['p50']:.1f} ms default view; worst {worst['p50']:.1f} ({worst['case']})"
        what = f"staff list and searches at {staff['rows'] / 1e6:g} M payments, p50"
        out.append((pg, what, value, "", "≤ 30 ms", all(x["met"] for x in q)))
        what = f"staff exports of {staff['span']['payments']:,} payments, peak RSS"
        out.append((pg, what, f"{peak:.0f} MB", "", "≤ 100 MB", peak <= 100))
    for step in (phone or {}).get("steps") or [{"name": n} for n in STEPS]:
        value, sec = (f"{step['seconds']:.2f} s", step["seconds"]) if "seconds" in step else (NA, 0)
        what, met = f"Insesp on slow 3G in Chromium: {step['name']}", sec <= 2 if sec else None
        out.append((pg, what, value, f2(step.get("runs", [])), "≤ 2.0 s", met))
    big = max((phone or {}).get("pages") or [{}], key=lambda p: p.get("bytes", 0))
    value = f"{big['bytes'] / 1024:.1f} KB ({big['page']})" if big else NA
    met = big["bytes"] <= 20 * 1024 if big else None
    return [*out, (pg, "bytes per payer page, compressed, largest", value, "", "≤ 20 KB", met)]


def source(name: str, d: dict | None) -> str:
    if not d:
        return f"- {name}: no bench/out/{name}.json yet."
    m, end = d["machine"], f"{d['finished']}, {d['wall_s'] / 60:.1f} min, commit {d['commit']}"
    return (f"- {name}: `{d['command']}`, {end}; {m['cpu']}, {m['cores']} cores, {m['ram_gib']} "
            f"GiB RAM, load {d['load_start']} → {m['load']}")  # fmt: skip


def http_part(h: dict) -> list[str]:
    engines, cells, k = h["engines"], h["cells"], ("rps", "p50_ms", "p99_ms", "p99_worst")
    out = ["## HTTP", "", PROSE["http"].format(**h), ""]
    keys = [(n, c, [cells.get(f"{e}|{n}|{c}") for e in engines]) for n in SCEN for c in (16, 64)]
    rows = [[SCEN[n], c, *(f"{x[m]:,.{m != 'rps':d}f}" if x else "—" for x in cs for m in k)]
            for n, c, cs in keys if any(cs)]  # fmt: skip
    heads = [f"{e} {m.replace('_ms', '').replace('_', ' ')}" for e in engines for m in k]
    out += table(["scenario", "conns", *heads], rows)
    errors = ", ".join(f"{k} {v['errors']}" for k, v in cells.items() if v["errors"]) or "none"
    alone = "; ".join(f"{e} {a:.1f} / {b:.1f} ms" for e, (a, b) in h["alone_ms"].items())
    out += [f"Errors: {errors}. One lookup alone (to its headers), 10 k / 1 M bills: {alone}."]
    ratios = [(x["engine"], x["conns"], x["name"], f"{x['value']:.2f}", f2(x["per_round"]))
              for x in h["ratios"]]  # fmt: skip
    out += ["", "### Ratios", ""]
    out += table(["engine", "conns", "ratio", "median", "per round"], ratios)
    g = ("app", "postgresql", "redis", "wrk", "machine")
    rows = [(e, n, *(f"{cells[f'{e}|{n}|64']['cpu_ms'][x]:.2f}" for x in g))
            for e in engines for n in SCEN if f"{e}|{n}|64" in cells]  # fmt: skip
    out += ["### CPU ms per request by process group, 64 connections", ""]
    out += table(["engine", "scenario", *g], rows)
    ab = [(e, k, a) for e, ks in h.get("attribution", {}).items() for k, a in ks.items()]
    if ab := [x for x in ab if "error" not in x[2]]:
        costs = list(dict.fromkeys(k[8:] for _, _, a in ab for k in a if k.startswith("without ")))
        less = lambda a: [a["page"] - a.get(f"without {c}", a["page"]) for c in costs]  # noqa: E731
        rows = [(e, k, f"{a['page']:.2f}", *(f"{x:.2f}" if x else "—" for x in less(a)),
                 f"{a['page'] - a['query floor'] - sum(less(a)):.2f}", f"{a['query floor']:.2f}")
                for e, k, a in ab]  # fmt: skip
        out += ["### Where a page's CPU goes above its floor (in-process A/B)", "", PROSE["ab"], ""]
        out += table(["engine", "page", "CPU ms", *costs, "the rest", "query floor"], rows)
    if c := h.get("constant_rate"):
        out += ["### Lookup at a constant rate", "", PROSE["openloop"].format(**c), ""]
    out += ["### Events", ""]
    for e, v in h["events"].items():
        ok = "one receipt e-mail and one webhook each" if v["ok"] else "**not one of each**"
        out += [f"- {e}: {v['applied']:,} applied by two workers at "
                f"{v.get('worker_rate', 0):,.0f} events/s after the runs, other {v['other']}, "
                f"repeated {v['wraps']}, outbox {v['outbox']}: {ok}."]  # fmt: skip
    out += ["", "### SQL per request (one request in-process)", ""]
    for e, kinds in h["traces"].items():
        for kind, t in kinds.items():
            if "error" in t:
                out += [f"- {e} {kind}: not traced ({t['error']})", ""]
                continue
            out += [f"**{e} {kind}** ({t['rows']:,} rows): {len(t['statements'])} statements, "
                    f"{t['calls']}, {t['redis']} Redis commands, HTTP {t['status']}", "", "```",
                    *(f"{i:>2}. {q}" for i, q in enumerate(t["statements"], 1)),
                    "```", ""]  # fmt: skip
    for p in h.get("profiles", []):
        if "error" in p:
            out += [f"- a profile failed: {p['error']}", ""]
            continue
        out += [f"### py-spy: {p['engine']} {p['scenario']}, 64 connections ({p['samples']:,} "
                f"samples in requests, {p['rps']:,.0f} req/s)", ""]  # fmt: skip
        for head, key in (("leaf frame's package", "by_package"), ("function", "inclusive")):
            out += table([head, "share"], [(k, f"{v:.0%}") for k, v in p[key]])
    return out + [f"- {n}" for n in h.get("notes", [])] + [""]


def render(imp, http, staff, phone, quick: bool) -> str:
    names = ("import", "http-quick" if quick else "http", "staff", "phone")
    out = ["# Benchmarks", "", PROSE["head"], ""]
    out += [source(n, d) for n, d in zip(names, (imp, http, staff, phone), strict=True)]
    out += ["", "## Targets", "", PROSE["targets"], ""]
    rows = [(*r[:5], verdict(r[5])) for r in targets(imp, http, staff, phone)]
    out += table(["engine", "what", "value", "per round", "target", "verdict"], rows)
    out += [PROSE["unmet"], ""] if not quick and any("not met" in r[5] for r in rows) else []
    out += http_part(http) if http else []
    if imp:
        out += ["## Import", "", PROSE["import"].format(**imp), ""]
        out += spec("engine={engine}|seconds={import_s:.1f}|rows/s={rows_s:,.0f}|peak RSS MB="
                    "{peak_mb:.0f}|baseline MB={baseline_mb:.0f}|CPU s={import_cpu_s:.1f}|"
                    "re-import s={reimport_s:.1f}|counts right={verified}",
                    [r for r in imp["results"] if "error" not in r])  # fmt: skip
    if s := staff:
        out += ["## Staff area", "", PROSE["staff"].format(**s), ""]
        q = [q | {"v": verdict(q["met"]) if q["met"] is not None else "informative"}
             for q in s["queries"]]  # fmt: skip
        out += spec("case={case}|p50 ms={p50:.1f}|p95 ms={p95:.1f}|verdict={v}", q)
        out += [PROSE["exports"].format(**s["span"]), ""]
        ex = [e | {"mib": e["bytes"] / 2**20, "v": verdict(e["met"])} for e in s["exports"]]
        out += spec("export={format}|seconds={seconds:.1f}|MiB={mib:.1f}|RSS before MB={before:.0f}"
                    "|peak RSS MB={peak:.0f}|verdict={v}", ex)  # fmt: skip
    if phone:
        out += ["## Insesp on a slow 3G phone (Chromium)", ""]
        out += [PROSE["phone"].format(**phone["network"]), ""]
        out += spec("page={page}|path=`{path}`|bytes={bytes:,}|requests={requests}", phone["pages"])
    return "\n".join(out)


def readme(imp, http, staff, phone) -> str:
    by = {}
    for engine, what, value, _, goal, met in targets(imp, http, staff, phone):
        cell = value + ("" if met is None else f" ({verdict(met)})")
        by.setdefault((what, goal), {})[engine] = cell
    wall = sum(d.get("wall_s", 0) for d in (imp, http, staff, phone) if d) / 60
    cores = (http or imp or staff or {}).get("machine", {}).get("cores", "?")
    rows = [(w, g or "—", v.get("postgresql", "—"), v.get("sqlite", "—"))
            for (w, g), v in by.items()]  # fmt: skip
    out = ["<!-- bench:start: written by bench/report.py -->"]
    out += [PROSE["readme"].format(cores=cores, wall=wall), ""]
    out += table(["what", "target", "PostgreSQL", "SQLite"], rows)[:-1]
    return "\n".join([*out, "<!-- bench:end -->"])


def main(argv: list[str]) -> int:
    quick = options(__doc__, argv, quick=False).quick  # http-quick.json -> bench/out
    parts = load("import"), load("http-quick" if quick else "http"), load("staff"), load("phone")
    doc = OUT / "BENCHMARKS-quick.md" if quick else ROOT / "docs" / "BENCHMARKS.md"
    doc.write_text(render(*parts, quick) + "\n")
    readme_path, marked = ROOT / "README.md", re.compile(r"<!-- bench:start.*?bench:end -->", re.S)
    if not quick and marked.search(text := readme_path.read_text()):
        readme_path.write_text(marked.sub(lambda _: readme(*parts), text))
    print(f"wrote {doc}" + ("" if quick else " and the README's table"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
