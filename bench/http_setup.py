"""The HTTP benchmark's data (set-wise SQL, the same rows on both engines), servers, scenarios."""

import base64
import contextlib
import datetime as dt
import hashlib
import random
import re
import secrets
import statistics
import time
import urllib.parse
from pathlib import Path

import common
import requests
from common import CONCEPTS, FIRST_NAMES, LAST_NAMES, ROOT, log
from flask import url_for
from sqlalchemy import create_engine, text

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
    started, pg = time.perf_counter(), url.startswith("postgresql")
    for k, v in params.items() if not pg else ():  # as SQLAlchemy stores them in SQLite
        if isinstance(v, dt.datetime):
            params[k] = v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
        elif isinstance(v, dt.date):
            params[k] = v.isoformat()
    engine = create_engine(url)
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


EVENT = """{"event":"transaction.updated","data":{"transaction":{"id":"%s","created_at":"2026-11-22T
15:00:00.000Z","finalized_at":"2026-11-22T15:05:00.000Z","amount_in_cents":%d,"reference":"%s",
"currency":"COP","customer_email":"usuario.demo@correo.test","payment_method_type":"PSE",
"payment_method":{"type":"PSE","extra":{"traceability_code":"CUS%06d","bank_name":"BANCOLOMBIA"}},
"status":"APPROVED","status_message":null}},"environment":"prod","signature":{"properties":[
"transaction.id","transaction.status","transaction.amount_in_cents"],"checksum":"%s"},"timestamp"
:%d,"sent_at":"2026-11-22T15:05:01Z"}""".replace("\n", "")


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
        self.jar |= {c.name: c.value for c in r.cookies}
        self.http.cookies.clear()
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
