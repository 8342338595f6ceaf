"""HTTP benchmark: its data and gunicorns (PostgreSQL, SQLite), wrk, open loop (bench/README.md)."""

import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import random
import re
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from unittest import mock

import common
import endpoints
import redis
import requests
from common import CONCEPTS, FIRST_NAMES, LAST_NAMES, ROOT, log
from flask import url_for
from report import SCEN
from sqlalchemy import create_engine, event, text

from gaspay import create_app
from gaspay.accounts.services import create_customer, link_client
from gaspay.billing.models import Bill
from gaspay.extensions import db

UA = "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 Chrome/131.0 Mobile Safari"
HEAD = {"User-Agent": UA, "Accept-Encoding": "gzip, deflate, br"}
FORM, REDIS, STRIDE = "application/x-www-form-urlencoded", "redis://127.0.0.1:6379/15", 7919
CUSTOMER = ("bench.cliente@interservicios.test", "bench-clave-segura-2026", ("0100245", "0100246"))
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PAGE = ('class="bill"', "<html")  # the lookup answers a form POST with the whole page
BILL = "id, tenant, client_number, client_display, payment_reference, bill_number, concept, "
BILL += "holder_first_name, holder_last_name, email, phone, amount_cents, vat_cents, currency, "
BILL += "period, issued_on, due_on, state, paid_at, created_at, updated_at"
SERIES = "WITH RECURSIVE s(i) AS (SELECT CAST(:first AS bigint) UNION ALL "
SERIES += "SELECT i + 1 FROM s WHERE i < :last) "
AMOUNT = "(5000 + ((i * 2654435761) % 4294967296) % 895000) * 100"
EVENT = """{"event":"transaction.updated","data":{"transaction":{"id":"%s","created_at":"2026-11-22T
15:00:00.000Z","finalized_at":"2026-11-22T15:05:00.000Z","amount_in_cents":%d,"reference":"%s",
"currency":"COP","customer_email":"usuario.demo@correo.test","payment_method_type":"PSE",
"payment_method":{"type":"PSE","extra":{"traceability_code":"CUS%06d","bank_name":"BANCOLOMBIA"}},
"status":"APPROVED","status_message":null}},"environment":"prod","signature":{"properties":[
"transaction.id","transaction.status","transaction.amount_in_cents"],"checksum":"%s"},"timestamp"
:%d,"sent_at":"2026-11-22T15:05:01Z"}""".replace("\n", "")
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


def fill_sql(pg: bool, today: dt.date) -> tuple[str, list[str]]:
    """Bills :first .. :last of :clients clients; the events' pending attempts (bill :base + i)."""

    def pick(expr: str, values, cast: str = "") -> str:
        whens = " ".join(f"WHEN {k} THEN {cast}'{v}'" for k, v in enumerate(values))
        return f"CASE {expr} % {len(values)} {whens} END"

    def pad(expr: str, width: int) -> str:  # the same on both engines
        return f"substr('{'0' * width}' || CAST({expr} AS text), length(CAST({expr} AS text)) + 1)"

    days = [today + dt.timedelta(days=d - 40) for d in range(80)]  # due: -20 .. +39 days
    cast, ref = "DATE " if pg else "", pad("i", 10)
    for digit, letter in zip("0123456789", "CDEFGHJKLM", strict=True):
        ref = f"replace({ref}, '{digit}', '{letter}')"
    bills = f"""INSERT INTO bills ({BILL}) {SERIES} SELECT i, :tenant, CAST(c AS text),
      {pad("c", 7)}, CASE WHEN i % 2 = 0 THEN '77' || {pad("i", 10)} END,
      'FG-' || {pad("c", 7)} || '-' || i,
      {pick("i", CONCEPTS)}, {pick("h / 7", FIRST_NAMES)}, {pick("h / 11", LAST_NAMES)},
      CASE WHEN r < 70 THEN 'cliente' || i || '@correo.test' END, '3' || {pad("h % 999999999", 9)},
      pesos * 100, CASE WHEN r > 60 THEN pesos * 19 / 119 * 100 ELSE 0 END, 'COP',
      {pick("d", [f"{d:%Y-%m}" for d in days])}, {pick("d", days, cast)},
      {pick("d + 20", days, cast)}, CASE WHEN r < 5 THEN 'paid' ELSE 'unpaid' END,
      CASE WHEN r < 5 THEN :now END, :now, :now
      FROM (SELECT i, c, h, (h / 13) % 100 AS r, 5000 + h % 895000 AS pesos, (h / 17) % 60 AS d
      FROM (SELECT i, 20000 + (i * {STRIDE}) % :clients AS c, (i * 2654435761) % 4294967296 AS h
      FROM s) a) b"""
    return bills, [
        f"""INSERT INTO bills ({BILL}) {SERIES} SELECT :base + i, :tenant,
        CAST(9000000 + i AS text), CAST(9000000 + i AS text), NULL, 'EV-' || i, 'Factura del Gas',
        'Usuario', 'Pendiente', NULL, '6472050', {AMOUNT}, 0, 'COP', NULL, NULL, :due, 'unpaid',
        NULL, :now, :now FROM s""",
        f"""INSERT INTO payment_attempts (id, tenant, reference, gateway, provider, gateway_txn_id,
        gateway_status, description, amount_cents, currency, status, created_at, updated_at,
        next_check_at, checks, redirected_at, payer_email, payer_email_source) {SERIES}
        SELECT i, :tenant, 'GB' || {ref}, :gateway, 'wompi', {pad("i", 6)} || '-1790000000-bench',
        'PENDING', 'Factura gas ' || (9000000 + i), {AMOUNT}, 'COP', 'pending', :now, :now, :later,
        0, :now, 'pagador' || i || '@correo.bench.test', 'payer' FROM s""",
        f"INSERT INTO attempt_bills (attempt_id, bill_id, amount_cents) {SERIES} "
        f"SELECT i, :base + i, {AMOUNT} FROM s",
        f"INSERT INTO bill_holds (bill_id, attempt_id, tenant, created_at) {SERIES} "
        "SELECT :base + i, i, :tenant, :now FROM s",
    ]


def run_sql(url: str, statements: list[str], **params) -> float:
    started, pg, engine = time.perf_counter(), url.startswith("postgresql"), create_engine(url)
    for k, v in params.items() if not pg else ():  # as SQLAlchemy stores them in SQLite
        if isinstance(v, dt.datetime):
            params[k] = v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
        elif isinstance(v, dt.date):
            params[k] = v.isoformat()
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql), params)
        for table in ("bills", "payment_attempts") if pg else ():
            seq = f"pg_get_serial_sequence('{table}', 'id')"
            conn.execute(text(f"SELECT setval({seq}, (SELECT max(id) + 1 FROM {table}), false)"))
    engine.dispose()
    return time.perf_counter() - started


def lookup_numbers(rows: int, count: int) -> list[str]:
    """Client numbers that exist in a database of ``rows`` bills, as printed (leading zeros)."""
    rng = random.Random(20261122 + rows)
    found = {20000 + (rng.randrange(1, rows + 1) * STRIDE) % (rows * 3 // 4) for _ in range(count)}
    return [f"{n:07d}" for n in rng.sample(sorted(found), min(count, len(found)))]


def event_lines(count: int, secret: str, path: str) -> list[tuple]:
    """Authentic APPROVED events (Wompi's checksum), one per pending attempt."""
    ts, lines, letters = int(time.time()), [], str.maketrans("0123456789", "CDEFGHJKLM")
    for k in range(1, count + 1):
        txn, amount = f"{k:06d}-1790000000-bench", (5000 + (k * 2654435761) % 2**32 % 895000) * 100
        checksum = hashlib.sha256(f"{txn}APPROVED{amount}{ts}{secret}".encode()).hexdigest()
        body = EVENT % (txn, amount, "GB" + f"{k:010d}".translate(letters), k, checksum, ts)
        lines.append(("POST", path, f"X-Event-Checksum: {checksum}", body))
    return lines


def load_customer(url: str, slug: str, now: dt.datetime) -> list[str]:
    """A customer with two client numbers and six notices on each (some paid, two overdue)."""
    with common.app_for(url).app_context():
        for c, display in enumerate(CUSTOMER[2]):
            for month in range(6):
                due, paid = now.date() + dt.timedelta(25 - 30 * month), month > 3 or month - c == 3
                db.session.add(Bill(
                    tenant=slug, client_number=display.lstrip("0"), client_display=display,
                    bill_number=f"AC-{display}-{month}", concept="Aviso de cobro aseo",
                    holder_first_name="Ana", holder_last_name="Rincón Peña", vat_cents=0,
                    amount_cents=(48_000 + 1_700 * month + 900 * c) * 100, currency="COP",
                    period=f"{due:%Y-%m}", due_on=due, issued_on=due - dt.timedelta(20),
                    state="paid" if paid else "unpaid", paid_at=now if paid else None))  # fmt: skip
        db.session.commit()
        customer = create_customer(slug, CUSTOMER[0], CUSTOMER[1], "Ana Rincón Peña")
        for number in CUSTOMER[2]:
            link_client(customer, number)
        db.session.remove()
        db.engine.dispose()
    return [f"AC-{d}-{m}" for d in CUSTOMER[2] for m in range(6)]


class Server:
    """gunicorn, production configuration, on a free port of 127.0.0.1: endpoints:bench_app()."""

    def __init__(self, name: str, url: str, rows: int, keys: dict, work: Path, args):
        self.name, self.url, self.rows, self.log = name, url, rows, work / f"{name}.log"
        env = keys | {  # MAIL_PORT 9: nothing is sent (no worker runs, the outbox only fills)
            "ENV": "production", "DATABASE_URL": self.url, "SANDBOX": "false",
            "INSTANCE_PATH": str(work), "TENANTS_DIR": str(ROOT / "instance/tenants"),
            "MAIL_DIR": str(work / "mail"), "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": "9",
            "RATELIMIT_STORAGE_URI": REDIS, "RATELIMIT_KEY_PREFIX": "hb-http",
            "LOGIN_RATE_LIMIT": "1000 per minute",
            # wrk is one address: raised, so the limiter still checks every lookup but never refuses
            "LOOKUP_RATE_LIMIT": "10000000 per minute",
            "LOOKUP_TARGET_RATE_LIMIT": "10000000 per minute",
        }  # fmt: skip
        self.env = common.CLEAN_ENV | {f"GASPAY_{k}": v for k, v in env.items()}
        flags = f"-w {args.workers} --threads {args.threads} -k gthread --pythonpath {ROOT},"
        flags += f"{ROOT / 'bench'} --log-level warning --graceful-timeout 5 endpoints:bench_app()"
        self.proc, self.base = common.gunicorn(self.env, self.log, "/healthz", *flags.split())

    def pids(self) -> set[int]:
        pid = self.proc.pid
        with contextlib.suppress(OSError):
            return {pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())}
        return {pid}

    def stop(self) -> list[str]:  # the master stopped; the log's first five errors
        common.stop(self.proc)
        errors = (ln for ln in self.log.read_text().splitlines() if " ERROR " in ln)
        return [f"{self.name}: {ln}" for ln in errors][:5]


class Client:
    """requests, cookies by hand: production cookies are Secure and these servers speak http."""

    def __init__(self, base: str):
        self.base, self.jar, self.http = base, {}, requests.Session()
        self.http.trust_env = False

    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def go(self, method: str, path: str, headers: dict | None = None, **kw):
        head = HEAD | ({"Cookie": self.cookie()} if self.jar else {}) | (headers or {})
        kw |= {"headers": head, "allow_redirects": False, "timeout": 30}
        r = self.http.request(method, self.base + path, **kw)
        self.jar |= {c.name: c.value for c in r.cookies}  # sent by hand: an explicit Cookie wins
        return r

    def token(self, path: str) -> str:
        return CSRF_RE.search(self.go("GET", path).text).group(1)


def routes() -> dict:
    """The measured tenants (guest lookup with Wompi's PSE; customer accounts), URLs and keys."""
    app = common.app_for("sqlite://")
    tenants = list(app.extensions["gaspay.tenants"].values())
    guest = next(t for t in tenants if t.offers("guest_lookup") and t.provider_of("pse") == "wompi")
    acc = next(t for t in tenants if t.offers("customer_accounts"))
    with app.test_request_context():
        urls = {"lookup": f"{guest.slug}.billing.lookup", "events": f"{guest.slug}.webhooks.wompi"}
        urls |= {"login": f"{acc.slug}.accounts.login", "notices": f"{acc.slug}.accounts.notices"}
        urls = {k: url_for(v) for k, v in urls.items()}
    h, g, keys = secrets.token_hex, guest.env_prefix, {"SECRET_KEY": secrets.token_urlsafe(36)}
    for p in (t.env_prefix for t in tenants):
        keys |= {f"{p}_WOMPI_PUBLIC_KEY": f"pub_prod_bench{h(8)}",
                 f"{p}_WOMPI_PRIVATE_KEY": f"prv_prod_bench{h(12)}",
                 f"{p}_WOMPI_INTEGRITY_SECRET": f"prod_integrity_{h(12)}",
                 f"{p}_WOMPI_EVENTS_SECRET": f"prod_events_{h(12)}",
                 f"{p}_PLACETOPAY_LOGIN": f"bench{h(8)}",
                 f"{p}_PLACETOPAY_SECRET_KEY": h(16)}  # fmt: skip
    keys[f"{g}_WEBHOOK_URL"] = "https://facturacion.bench.invalid/gaspay/eventos"
    keys[f"{g}_WEBHOOK_SECRET"] = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return urls | {"keys": keys, "guest": g, "slug": guest.slug, "accounts": acc.slug,
                   "gateway": "pse" if guest.uses("pse") else guest.gateways[0]}  # fmt: skip


def prepare(setup: dict, args, work: Path, r: dict) -> None:
    """Three databases filled, their servers up, each scenario's request file written, checked."""
    engine, now, names = setup["engine"], dt.datetime.now(dt.UTC), ("10k", "1m", "events")
    pg, names = engine == "postgresql", [f"hb_pg_{n}" for n in names]
    setup |= {"pg": names if pg else [], "scen": {}, "next_event": 4}  # the finally drops them
    urls = common.pg_create(*names) if pg else [f"sqlite:///{work}/{n}.sqlite3" for n in names]
    rows = (args.small_rows, args.large_rows, args.attempts)
    base = {"tenant": r["slug"], "now": now, "first": 1}
    for url in urls:
        common.migrate(url)
    bills, attempts = fill_sql(pg, now.date())
    for url, n in zip(urls[:2], rows[:2], strict=True):
        took = run_sql(url, [bills], last=n, clients=n * 3 // 4, **base)
        log(f"{engine}: {n:,} bills in {took:.1f} s")
    due, later = now.date() + dt.timedelta(15), now + dt.timedelta(30)
    more = {"last": args.attempts, "base": 40_000_000, "gateway": r["gateway"], "later": later}
    run_sql(urls[2], attempts, due=due, **more, **base)
    notices = load_customer(urls[0], r["accounts"], now)
    setup["servers"] = servers = []  # the finally stops those that started
    for n, url, count in zip(names, urls, rows, strict=True):
        common.pg("VACUUM ANALYZE", url=url) if pg else None  # what autovacuum would gather
        servers.append(Server(f"{engine}-{n[6:]}", url, count, r["keys"], work, args))
    small, large, events = servers
    setup |= {"small": small, "large": large, "events": events}

    def add(name, server, lines, expect=("ok",), headers=None, count=None):
        file = work / f"{engine}-{name}.txt"
        file.write_text("".join("\t".join(line) + "\n" for line in lines))
        scen = {"server": server, "file": file, "headers": headers or {}}
        setup["scen"][name] = scen | {"count": count or len(lines)}
        method, path, head, body = lines[0]
        head = (headers or {}) | dict([head.split(": ", 1)] if head else [])
        resp = Client(server.base).go(method, path, headers=head, data=body or None)
        if resp.status_code != 200 or not all(x in resp.text for x in expect):
            raise RuntimeError(f"{name}: {resp.status_code} {resp.text[:300]}")

    secret = r["keys"][f"{r['guest']}_WOMPI_EVENTS_SECRET"]
    jsn, evs = {"Content-Type": "application/json"}, event_lines(args.attempts, secret, r["events"])
    add("events", events, evs, ('"queued"',), jsn, count=args.events_per_cell)
    add("bare_get", small, [("GET", "/_bench/bare", "", "")])
    add("bare_post", small, [("POST", "/_bench/bare", *e[2:]) for e in evs[:2000]], headers=jsn)
    writes = [("POST", f"/_bench/write?id={1 + k}", *e[2:]) for k, e in enumerate(evs[:2000])]
    add("write_floor", small, writes, headers=jsn)
    nums = lookup_numbers(small.rows, 500)
    for floor in ("query", "driver") if pg else ("query",):
        lines = [("GET", f"/_bench/{floor}/{r['slug']}?n={n}", "", "") for n in nums]
        add(f"{floor}_floor", small, lines)
    for name, server in (("lookup", small), ("lookup_1m", large)):
        c = Client(server.base)  # a browser's form POST, answered with the whole page
        token, nums = c.token(r["lookup"]), lookup_numbers(server.rows, 500)
        head = {"Content-Type": FORM, "Cookie": c.cookie()}
        forms = [urllib.parse.urlencode({"csrf_token": token, "numero": n}) for n in nums]
        add(name, server, [("POST", r["lookup"], "", f) for f in forms], PAGE, head)
        alone = [c.go("POST", r["lookup"], headers=head, data=f).elapsed for f in forms[1:16]]
        setup["scen"][name]["alone_ms"] = statistics.median(t.total_seconds() * 1000 for t in alone)
    static = re.search(r'src="(/static/[^"]+\.js[^"]*)"', c.go("GET", r["lookup"]).text)
    add("static", small, [("GET", static.group(1) if static else "/static/app.css", "", "")], ())
    c = Client(small.base)
    form = {"csrf_token": c.token(r["login"]), "email": CUSTOMER[0], "password": CUSTOMER[1]}
    if c.go("POST", r["login"], data=form | {"next": ""}).status_code not in (302, 303):
        raise RuntimeError("the bench customer cannot log in")
    add("notices", small, [("GET", r["notices"], "", "")], notices[:1], {"Cookie": c.cookie()})
    log(f"{engine}: servers up, every scenario answered")


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
    wrk += [x for k, v in (HEAD | s["headers"]).items() for x in ("-H", f"{k}: {v}")]
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
    s, head = setup["scen"]["lookup"], HEAD | setup["scen"]["lookup"]["headers"]
    lines = (x.split("\t") for x in s["file"].read_text().splitlines())
    reqs, port = [(m, p, head, b) for m, p, _, b in lines], int(s["server"].base.rsplit(":")[-1])
    local, done = threading.local(), []  # done: (latency ms, status) of the counted requests

    def send(at: float, counted: bool, method: str, path: str, headers: dict, body: str) -> None:
        if not hasattr(local, "conn"):  # each sender thread keeps its own connection
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(max(0.0, at - time.perf_counter()))
        code = 0
        for _ in (1, 2):  # a kept-alive connection the server closed: once more, anew
            try:
                local.conn.request(method, path, body=body, headers=headers)
                (resp := local.conn.getresponse()).read()
                code = resp.status
                break
            except (OSError, http.client.HTTPException):
                local.conn.close()  # the next request opens it again
        if counted:
            done.append(((time.perf_counter() - at) * 1000, code))  # list.append: atomic

    t0, skip = time.perf_counter() + 0.05, int(rate * warmup)
    with ThreadPoolExecutor(senders) as pool:  # first in, first out: each waits for its time
        for i in range(skip + int(rate * seconds)):
            pool.submit(send, t0 + i / rate, i >= skip, *reqs[i % len(reqs)])
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


def in_process(setup: dict, kind: str):
    """The server's app here and ``call(**headers)``: its scenario's line-1 request, in process."""
    s = setup["scen"]["lookup_1m" if kind == "lookup" else kind]
    with mock.patch.dict(os.environ, s["server"].env, clear=True):  # create_app reads GASPAY_*
        endpoints.register(app := create_app())
    lines = s["file"].read_text().splitlines()  # events: line 1 is one that wrk never sends
    method, path, h, body = lines[min(1, len(lines) - 1)].split("\t")
    head = HEAD | s["headers"] | dict([h.split(": ", 1)] if h else [])
    head["Referer"] = "https://localhost/"  # the test client speaks https, production's scheme
    client = app.test_client(use_cookies=False)  # the scenario's own session cookie, as wrk's
    call = lambda **more: client.open(path, method=method, data=body, headers=head | more)  # noqa: E731
    if kind != "events":  # warm; an event is stored once
        call()
    return app, s["server"], call


def attribute(setup: dict, r: dict, kind: str, n: int = 800) -> dict:
    """Worker CPU ms of the page, without each cost, and of the query floor, interleaved (drift)."""
    app, server, call = in_process(setup, kind)
    views = "gaspay.billing.views" if kind == "lookup" else "gaspay.accounts.notice_views"
    html, none = call(**{"Accept-Encoding": "identity"}).get_data(), contextlib.nullcontext
    number, floor = lookup_numbers(server.rows, 500)[1], app.test_client().get  # line 1's
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


def trace(setup: dict, kind: str) -> dict:
    """One request in-process: its SQL, transactions, pool checkouts, Redis commands."""
    app, server, call = in_process(setup, kind)
    with app.app_context():
        engine = db.engine
    seen, calls, info = [], Counter(), redis.Redis.from_url(REDIS).info
    hooks = [(engine, "before_cursor_execute", lambda *a: seen.append(" ".join(a[2].split())))]
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
    engine.dispose()
    return {"status": status, "statements": [q[:160] for q in seen], "calls": dict(calls),
            "redis": commands, "rows": server.rows}  # fmt: skip


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
        common.stop(worker)
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
    q = "--quick" in argv  # a short smoke run (about 3 min)
    args = common.options(__doc__, argv, quick=False, engines="postgresql,sqlite", rounds=(3, 1)[q],
                          seconds=(3.0, 2.0)[q], large_rows=(1_000_000, 100_000)[q], profile=not q,
                          workers=max(2, len(os.sched_getaffinity(0))), threads=4)  # fmt: skip
    args.small_rows, args.warmup, args.events_per_cell = 10_000, (1.5, 1.0)[q], (4000, 2000)[q]
    args.attempts = 4 + args.events_per_cell * (len(CONNS) * args.rounds + 2)  # + warm-up, profile
    started, load, r = time.monotonic(), common.machine()["load"], routes()
    setups, notes, data = {}, [], {}
    with tempfile.TemporaryDirectory(prefix="hb-http-") as tmp:
        try:
            for engine in args.engines.split(","):
                prepare(setups.setdefault(engine, {"engine": engine}), args, Path(tmp), r)
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
            data["traces"] = {e: {k: safe(trace, x, k) for k in KINDS} for e, x in setups.items()}
            data["attribution"] = {e: {k: safe(attribute, x, r, k) for k in KINDS[:2]}
                                   for e, x in setups.items()}  # fmt: skip
            data["events"] = {e: events_once(s, rows) for e, s in setups.items()}  # all of them
        finally:
            for setup in setups.values():
                notes += [line for server in setup.get("servers", []) for line in server.stop()]
                common.pg_drop(*setup["pg"]) if setup.get("pg") else None
    data |= {"rows": rows, "notes": notes, "load_start": load, "engines": list(setups)}
    data = vars(args) | data  # the options too (workers, rounds ... for the report); data's win
    common.save("http-quick" if q else "http", data, started, argv)
    return 0 if all(e["ok"] for e in data["events"].values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
