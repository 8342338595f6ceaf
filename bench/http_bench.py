"""HTTP benchmark: gunicorn on PostgreSQL and SQLite, wrk then open loop (bench/README.md)."""

import argparse
import contextlib
import http.client
import json
import os
import queue
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path
from unittest import mock

import common
import endpoints
import http_setup as hs
import redis
from common import log
from report import SCEN
from sqlalchemy import create_engine, event, text

from gaspay import create_app
from gaspay.extensions import db

CONNS, TICK, KINDS = (16, 64), os.sysconf("SC_CLK_TCK"), ("lookup", "notices", "events")
RATIOS = (  # name, numerator, denominator, target
    ("lookup / query floor", "lookup", "query_floor", (">=", 0.70)),
    ("lookup / driver floor", "lookup", "driver_floor", None),
    ("notices / query floor", "notices", "query_floor", (">=", 0.60)),
    ("events / write floor", "events", "write_floor", (">=", 0.50)),
    ("lookup time at 1 M / at 10 k", "lookup", "lookup_1m", ("<=", 1.20)),
    ("lookup / bare GET", "lookup", "bare_get", None),
    ("events / bare POST", "events", "bare_post", None),
    ("query floor / bare GET", "query_floor", "bare_get", None),
    ("driver floor / bare GET", "driver_floor", "bare_get", None),
    ("write floor / bare POST", "write_floor", "bare_post", None),
)
PACKAGES = ("psycopg", "sqlalchemy", "sqlite3", "jinja2", "flask_limiter", "limits", "redis",
            "flask_wtf", "wtforms", "itsdangerous", "flask_login", "flask_compress", "brotli",
            "babel", "flask/", "werkzeug", "gunicorn", "logging", "json", "gaspay/")  # fmt: skip
LUA = Path(__file__).with_name("wrk.lua")


def cpu(pids: set[int]) -> dict[str, float]:
    """CPU seconds so far by process group: this server, PostgreSQL, Redis, wrk, the machine."""
    groups = Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, ValueError):
            raw = Path(f"/proc/{pid}/stat").read_text()
            comm, f = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
            mine = int(pid) in pids or int(f[1]) in pids
            groups["app" if mine else comm] += int(f[11]) + int(f[12])
    t = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    out = {"app": groups["app"], "postgresql": groups["postgres"], "redis": groups["redis-server"]}
    out = {k: v / TICK for k, v in (out | {"machine": sum(t) - t[3] - t[4]}).items()}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out | {"wrk": usage.ru_utime + usage.ru_stime}


def cell(setup: dict, name: str, conns: int, seconds: float) -> dict:
    """One wrk run; events get a fresh slice of never-sent events."""
    s, threads, events = setup["scen"][name], min(2, conns), name == "events"
    first, server = setup["next_event"] if events else 0, s["server"]
    setup["next_event"] += s["count"] if events else 0
    wrk = f"wrk -t{threads} -c{conns} -d{round(seconds)}s --timeout=10s -s {LUA}".split()
    wrk += [x for k, v in (hs.HEAD | s["headers"]).items() for x in ("-H", f"{k}: {v}")]
    wrk += [server.base, "--", str(s["file"]), str(first), str(first + s["count"]), str(threads)]
    before = cpu(server.pids())
    out = subprocess.run(wrk, capture_output=True, text=True, timeout=seconds + 120)
    if not (line := next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)):
        raise RuntimeError(f"wrk failed: {out.stdout[-800:]}{out.stderr}")
    w, after = json.loads(line[4:]), cpu(server.pids())
    last, settle = after["app"], time.monotonic()
    while time.monotonic() - settle < 10:  # let the server finish what wrk left queued
        time.sleep(0.25)
        last, previous = cpu(server.pids())["app"], last
        if last - previous < 0.02:
            break
    per = {k: 1000 * (after[k] - before[k]) / max(1, w["requests"]) for k in before}
    return {"engine": setup["engine"], "scenario": name, "conns": conns, "cpu_ms": per,
            "rps": w["requests"] / w["us"] * 1e6, "p50_ms": w["p50"] / 1000,
            "p99_ms": w["p99"] / 1000, "errors": w["errors"], "wraps": w["wraps"]}  # fmt: skip


def measure(setups: dict, args) -> list[dict]:
    """Every cell warmed up once, then the rounds, each in its own seeded order."""
    cells = [(e, n, c) for e in setups for n in SCEN if n in setups[e]["scen"] for c in CONNS]
    log(f"{len(cells)} cells × {args.rounds} rounds × {args.seconds:g} s")
    for e, n, _ in cells[:: len(CONNS)]:  # warm-up: one run per scenario, at CONNS[0]
        cell(setups[e], n, CONNS[0], args.warmup)
    rows = []
    for rnd in range(1, args.rounds + 1):
        for e, n, c in random.Random(20261122 + rnd).sample(cells, len(cells)):
            rows.append(x := cell(setups[e], n, c, args.seconds) | {"round": rnd})
            log(f"r{rnd} {e:<10} {n:<12} {c:>2}c {x['rps']:7,.0f} req/s p99 {x['p99_ms']:6.1f} ms")
    return rows


def summarise(rows: list[dict]) -> tuple[dict, list[dict]]:
    cells, by = {}, {(x["engine"], x["scenario"], x["conns"], x["round"]): x for x in rows}
    for x in rows:
        cells.setdefault(f"{x['engine']}|{x['scenario']}|{x['conns']}", []).append(x)
    med = {k: {m: statistics.median(i[m] for i in v) for m in ("rps", "p50_ms", "p99_ms")}
           | {"p99_worst": max(i["p99_ms"] for i in v), "errors": sum(i["errors"] for i in v),
              "cpu_ms": {g: statistics.median(i["cpu_ms"][g] for i in v) for g in v[0]["cpu_ms"]}}
           for k, v in cells.items()}  # fmt: skip
    ratios, rounds, engines = [], sorted({x["round"] for x in rows}), {x["engine"]: 0 for x in rows}
    for e, c, (name, a, b, target) in ((e, c, t) for e in engines for c in CONNS for t in RATIOS):
        pairs = [(by.get((e, a, c, k)), by.get((e, b, c, k))) for k in rounds]
        if per := [x["rps"] / y["rps"] for x, y in pairs if x and y and y["rps"]]:
            v = statistics.median(per)
            met = None if not target else v >= target[1] if target[0] == ">=" else v <= target[1]
            ratios.append({"engine": e, "conns": c, "name": name, "value": v, "per_round": per,
                           "target": target, "met": met})  # fmt: skip
    return med, ratios


def constant_rate(setup: dict, rate: float, seconds: int, warmup=2.0, senders=32) -> dict:
    """The lookup offered at a fixed rate, open loop: no coordinated omission (report.md)."""
    s, head = setup["scen"]["lookup"], hs.HEAD | setup["scen"]["lookup"]["headers"]
    lines = (x.split("\t") for x in s["file"].read_text().splitlines())
    reqs, port = [(m, p, head, b) for m, p, _, b in lines], int(s["server"].base.rsplit(":")[-1])
    due, done = queue.Queue(), []  # done: (latency ms, status) of the counted requests

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while (item := due.get()) is not None:
            at, counted, (method, path, headers, body) = item
            time.sleep(max(0.0, at - time.perf_counter()))
            code = 0
            for _ in (1, 2):  # a kept-alive connection the server closed: once more, anew
                try:
                    conn.request(method, path, body=body, headers=headers)
                    (resp := conn.getresponse()).read()
                    code = resp.status
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()  # the next request opens it again
            if counted:
                done.append(((time.perf_counter() - at) * 1000, code))  # list.append: atomic

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    t0, skip = time.perf_counter() + 0.05, int(rate * warmup)
    for i in range(skip + int(rate * seconds)):
        while due.qsize() > senders:  # a short queue: each item waits for its own time
            time.sleep(0.0005)
        due.put((t0 + i / rate, i >= skip, reqs[i % len(reqs)]))
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    took = time.perf_counter() - (t0 + skip / rate)  # from the first counted request's due time
    lat, codes = sorted(ms for ms, _ in done), dict(Counter(code for _, code in done))
    at = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]  # noqa: E731
    bad = sum(n for code, n in codes.items() if code != 200)
    return {"offered": rate, "achieved": len(lat) / took, "n": len(lat), "p50_ms": at(0.5),
            "p99_ms": at(0.99), "max_ms": lat[-1], "codes": codes, "seconds": seconds,
            "non_200": bad, "met": at(0.99) <= 20.0}  # fmt: skip


def safe(fn, *args) -> dict:
    try:
        return fn(*args)
    except Exception as exc:  # diagnostics only: the figures stand without them
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def in_process(setup: dict, r: dict, kind: str):
    """The server's app here and ``call(**headers)``, one ``kind`` of request, made once (warm)."""
    server = setup[{"lookup": "large", "events": "events"}.get(kind, "small")]
    with mock.patch.dict(os.environ, server.env, clear=True):  # create_app reads GASPAY_*
        endpoints.register(app := create_app())
    head, client = {"User-Agent": hs.UA, "Referer": "https://localhost/"}, app.test_client()
    if kind == "events":
        _, path, h, body = setup["scen"]["events"]["file"].read_text().split("\n", 2)[1].split("\t")
        head |= {"Content-Type": "application/json", "X-Event-Checksum": h.split(": ")[1]}
        return app, server, lambda **more: client.post(path, data=body, headers=head | more)
    page = client.get(r["lookup" if kind == "lookup" else "login"], headers=head)
    form = {"csrf_token": hs.CSRF_RE.search(page.text).group(1)}  # the client speaks https
    if kind == "lookup":  # a browser's form POST: the whole page
        form["numero"] = hs.lookup_numbers(server.rows, 3)[1]
        send = partial(client.post, r["lookup"], data=form)
    else:
        form |= {"email": hs.CUSTOMER[0], "password": hs.CUSTOMER[1], "next": ""}
        client.post(r["login"], data=form, headers=head)
        send = partial(client.get, r["notices"])
    call = lambda **more: send(headers=head | hs.HEAD | more)  # noqa: E731
    call()
    return app, server, call


def attribute(setup: dict, r: dict, kind: str, n: int = 800) -> dict:
    """Worker CPU ms of the page, without each cost, and of the query floor, interleaved (drift)."""
    app, server, call = in_process(setup, r, kind)
    views = "gaspay.billing.views" if kind == "lookup" else "gaspay.accounts.notice_views"
    html, none = call(**{"Accept-Encoding": "identity"}).get_data(), contextlib.nullcontext
    number, floor = hs.lookup_numbers(server.rows, 3)[1], app.test_client().get
    variants = {
        "page": (none, call),
        "without compression": (none, partial(call, **{"Accept-Encoding": "identity"})),
        "without the template": (partial(mock.patch, f"{views}.render", return_value=html), call),
        "query floor": (none, partial(floor, f"/_bench/query/{r['slug']}?n={number}")),
    }  # fmt: skip
    if kind == "lookup":  # a POST: the notice list (a GET) has no rate limit and no CSRF check
        hit = partial(mock.patch, "gaspay.web.ratelimit._hit_all", return_value=True)
        variants["without the rate limits' round trip"] = (hit, call)
        off = partial(mock.patch.dict, app.config, WTF_CSRF_ENABLED=False)
        variants["without CSRF (check, token)"] = (off, call)
    spent, order = Counter(), list(variants.items())
    for i in range(n + 50):
        random.Random(i).shuffle(order)  # who runs after whom (a cold cache) changes each round
        for name, (patch, fn) in order:
            with patch():
                started = time.process_time_ns()
                assert fn().status_code == 200, name
                spent[name] += (time.process_time_ns() - started) * (i >= 50)
    return {name: spent[name] / n / 1e6 for name in variants}


def trace(setup: dict, r: dict, kind: str) -> dict:
    """One request in-process: its SQL, transactions, pool checkouts, Redis commands, plans."""
    app, server, call = in_process(setup, r, kind)
    with app.app_context():
        engine = db.engine
    seen, calls, info = [], Counter(), redis.Redis.from_url(hs.REDIS).info
    hooks = [(engine, "before_cursor_execute", lambda *a: seen.append((a[2], a[3])))]
    for name in ("begin", "commit", "rollback"):
        hooks.append((engine, name, lambda *a, n=name: calls.update([n])))
    hooks.append((engine.pool, "checkout", lambda *a: calls.update(["pool checkout"])))
    for hook in hooks:
        event.listen(*hook)
    before = info("stats")["total_commands_processed"]
    status = call().status_code
    commands = info("stats")["total_commands_processed"] - before - 1
    for hook in hooks:
        event.remove(*hook)
    plans, pg = [], engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        for sql, params in seen if kind != "notices" else ():
            if (verb := sql.split(None, 1)[0].upper()) not in ("SELECT", "UPDATE", "DELETE"):
                continue
            how = "(ANALYZE, BUFFERS, COSTS OFF)" if verb == "SELECT" else "(COSTS OFF)"
            plans.append({"sql": " ".join(sql.split())[:400]})
            try:
                explain = f"EXPLAIN {how if pg else 'QUERY PLAN'} {sql}"
                plans[-1]["plan"] = [x[-1] for x in conn.exec_driver_sql(explain, params)]
            except Exception as exc:  # a plan is diagnostic only
                plans[-1]["plan"] = [f"(no plan: {exc})"]
                conn.rollback()
        conn.rollback()
    engine.dispose()
    statements = [" ".join(q.split())[:160] for q, _ in seen]
    return {"status": status, "statements": statements, "calls": dict(calls), "redis": commands,
            "plans": plans, "rows": server.rows}  # fmt: skip


def profile(setup: dict, name: str, seconds: float, work: Path) -> dict:
    """py-spy --gil on the workers in the 64-connection cell: request samples by leaf, function."""
    pid, raw = setup["scen"][name]["server"].proc.pid, work / f"profile-{name}.txt"
    spy = f"{Path(sys.executable).parent}/py-spy record --pid {pid} --subprocesses --gil "
    spy += f"--nolineno --rate 100 --duration {round(seconds)} --format raw --output {raw}"
    spy = subprocess.Popen(spy.split(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    rps, total, leaf, inclusive = cell(setup, name, 64, seconds)["rps"], 0, Counter(), Counter()
    spy.wait(timeout=seconds + 60)
    for line in raw.read_text().splitlines() if raw.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if count.isdigit() and any("wsgi_app (flask/app" in f for f in frames):
            total += int(count)
            leaf[next((p for p in PACKAGES if p in frames[-1]), "other (stdlib, C)")] += int(count)
            names = {re.sub(r"\(.*(site-packages/|/gaspay/)", "(", f) for f in frames}
            inclusive.update(dict.fromkeys(names, int(count)))
    rest = Counter({k: v for k, v in inclusive.items() if v < 0.97 * total and "thread" not in k})
    top = lambda c, n: [(k, v / total) for k, v in c.most_common(n) if v >= 0.02 * total]  # noqa: E731
    return {"engine": setup["engine"], "scenario": name, "samples": total, "rps": rps,
            "by_package": top(leaf, 12), "inclusive": top(rest, 15)}  # fmt: skip


def events_once(setup: dict, rows: list[dict]) -> dict:
    """Two workers apply the stored events (timed); then every event is recorded as applied,
    each with one receipt e-mail and one webhook."""
    engine, sql = create_engine(setup["events"].url), "SELECT {}, count(*) FROM {} GROUP BY 1"
    left = text("SELECT count(*) FROM outbox_messages WHERE kind = 'gateway_event' AND "
                "status = 'pending' AND failures = 0")  # fmt: skip
    command = [Path(sys.executable).parent / "flask", "--app", "gaspay", "worker"]
    command += ["--no-reconcile", "--kind", "gateway_event", "--poll", "0.2"]
    env, started = setup["events"].env | {"GASPAY_OUTBOX_BATCH": "100"}, time.monotonic()
    workers = [subprocess.Popen(command, cwd=common.ROOT, env=env, stderr=subprocess.DEVNULL)
               for _ in range(2)]  # fmt: skip
    with engine.connect() as conn:
        while conn.execute(left).scalar() and all(w.poll() is None for w in workers):
            conn.rollback()
            time.sleep(0.2)
    seconds = time.monotonic() - started
    for worker in workers:
        worker.terminate()
        worker.wait(timeout=60)
    with engine.connect() as conn:
        outcomes = dict(conn.execute(text(sql.format("outcome", "gateway_events"))).all())
        sql = sql.format("kind || ' ' || topic", "outbox_messages")
        outbox = dict(conn.execute(text(sql)).all())
    engine.dispose()
    applied, mine = outcomes.pop("applied", 0), (x for x in rows if x["engine"] == setup["engine"])
    wraps = sum(x["wraps"] for x in mine if x["scenario"] == "events")
    one_each = outbox.get("email receipt") == applied == outbox.get("webhook payment.approved")
    outbox.pop("gateway_event wompi.event", None)
    return {"applied": applied, "other": outcomes, "outbox": outbox, "wraps": wraps,
            "worker_rate": applied / seconds,
            "ok": one_each and not outcomes and not wraps and len(outbox) == 2}  # fmt: skip


def main(argv: list[str]) -> int:
    q, parser = "--quick" in argv, argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about 3 min)")
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--rounds", type=int, default=(3, 1)[q])
    parser.add_argument("--seconds", type=float, default=(3.0, 2.0)[q])
    parser.add_argument("--large-rows", type=int, default=(1_000_000, 100_000)[q])
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=not q)
    parser.add_argument("--workers", type=int, default=max(2, len(os.sched_getaffinity(0))))
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    args.small_rows, args.warmup, args.events_per_cell = 10_000, (1.5, 1.0)[q], (4000, 2000)[q]
    args.attempts = 4 + args.events_per_cell * (len(CONNS) * args.rounds + 2)  # + warm-up, profile
    started, load, r = time.monotonic(), common.machine()["load"], hs.routes()
    setups, notes, data = {}, [], {}
    with tempfile.TemporaryDirectory(prefix="hb-http-") as tmp:
        try:
            for engine in args.engines.split(","):
                hs.prepare(setups.setdefault(engine, {"engine": engine}), args, Path(tmp), r)
            data["cells"], data["ratios"] = summarise(rows := measure(setups, args))
            if pg := setups.get("postgresql"):
                rate = data["cells"]["postgresql|lookup|64"]["rps"] / 2
                log(f"open loop: the lookup at {rate:.0f} req/s ...")
                data["constant_rate"] = constant_rate(pg, rate, 8 if q else 15)
            data["alone_ms"] = {e: [s["scen"][n]["alone_ms"] for n in ("lookup", "lookup_1m")]
                                for e, s in setups.items()}  # fmt: skip
            spy = args.profile and (Path(sys.executable).parent / "py-spy").exists()
            data["profiles"] = [safe(profile, pg, n, 6, Path(tmp)) for n in KINDS if spy and pg]
            notes += [] if spy or not args.profile else ["no py-spy: no profiles (make bench)"]
            # after the profiles: a trace logs the customer in anew, which ends wrk's session
            traced = {e: {k: safe(trace, x, r, k) for k in KINDS} for e, x in setups.items()}
            data["traces"] = traced
            data["attribution"] = {e: {k: safe(attribute, x, r, k) for k in KINDS[:2]}
                                   for e, x in setups.items()}  # fmt: skip
            data["events"] = {e: events_once(s, rows) for e, s in setups.items()}  # all of them
        finally:
            for setup in setups.values():
                notes += [line for server in setup.get("servers", []) for line in server.stop()]
                common.pg_drop(*setup["pg"]) if setup.get("pg") else None
    data |= {"rows": rows, "notes": notes, "load_start": load, "engines": list(setups)}
    kept = ("rounds", "seconds", "warmup", "small_rows", "large_rows", "workers", "threads")
    data |= {k: getattr(args, k) for k in kept}
    common.save("http-quick" if q else "http", data, started, argv)
    return 0 if all(e["ok"] for e in data["events"].values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
