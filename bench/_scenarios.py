"""What the HTTP benchmark measures: the tenant routes, each engine's databases filled and
servers named, the signed Wompi events, every scenario checked once with a real request, and
the wrk Lua script of each cell."""

from __future__ import annotations

import re
import statistics
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import _data
import _wrk
from _browser import Browser
from _common import CONNECTIONS, LOOKUP_NUMBERS, log
from _servers import Server, create_databases

SEQUENTIAL = 15  # lookups timed one at a time on one connection, per server
DEGENERATE_MS = 250.0
STATIC_RE = re.compile(r'(?:src|href)="(/static/[^"]+\.js[^"]*)"')


@dataclass
class Scenario:
    name: str
    server: Server
    path: str
    script: str = ""  # Lua text, for the scenarios whose script does not change between cells
    events_file_prefix: Path | None = None
    events_path: str = ""
    check: str = ""  # what the sanity request showed
    sequential_ms: list[float] = field(default_factory=list)  # one connection, one at a time
    degenerate: bool = False  # one request alone is so slow that a wrk cell would only queue


@dataclass
class EngineSetup:
    engine: str
    small: Server
    large: Server
    events: Server
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    events_slices: int = 0
    next_slice: int = 0
    events_per_slice: int = 0
    events_secret: str = ""
    load_seconds: dict = field(default_factory=dict)
    pg_databases: list[str] = field(default_factory=list)
    sqlite_dir: Path | None = None
    customer: dict | None = None


def discover_routes() -> dict:
    """Tenants and the URLs the scenarios need, from the app's own URL map."""
    from gaspay import create_app

    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "d" * 40, "SANDBOX": True})
    tenants = list(app.extensions["gaspay.tenants"].values())
    # The guest tenant measured: the one whose events are Wompi's (the demo's Insesp).
    guest = next(
        (t for t in tenants if t.offers("guest_lookup") and t.provider_of("pse") == "wompi"), None
    )
    accounts = next((t for t in tenants if t.offers("customer_accounts")), None)
    endpoints = set(app.view_functions)
    routes = {"prefixes": [t.env_prefix for t in tenants], "guest": None, "accounts": None}
    with app.test_request_context():
        from flask import url_for

        if guest and f"{guest.slug}.billing.lookup" in endpoints:
            routes["guest"] = {
                "slug": guest.slug,
                "lookup": url_for(f"{guest.slug}.billing.lookup"),
                "events": url_for(f"{guest.slug}.webhooks.wompi"),
                "gateway": "pse" if guest.uses("pse") else guest.gateways[0],
            }
        if (
            accounts
            and {
                f"{accounts.slug}.accounts.notices",
                f"{accounts.slug}.accounts.login",
            }
            <= endpoints
        ):
            routes["accounts"] = {
                "slug": accounts.slug,
                "login": url_for(f"{accounts.slug}.accounts.login"),
                "notices": url_for(f"{accounts.slug}.accounts.notices"),
                "prefix": accounts.env_prefix,
            }
    guest_prefix = guest.env_prefix if guest else None
    routes["guest_prefix"] = guest_prefix
    return routes


def prepare_engine(engine: str, args, workdir: Path, routes: dict, today, now) -> EngineSetup:
    """Create, migrate and fill the three databases of one engine (the events have their own,
    so that their 100,000 attempts and bills are not in the lookup's 10,000-bill table)."""
    small_rows, large_rows = args.small_rows, args.large_rows
    urls, names, sqlite_dir = create_databases(engine, args.pg_url, workdir)
    small = Server(f"{engine}-small", engine, urls[0], small_rows)
    large = Server(f"{engine}-large", engine, urls[1], large_rows)
    events = Server(f"{engine}-events", engine, urls[2], 0)
    setup = EngineSetup(engine, small, large, events, pg_databases=names, sqlite_dir=sqlite_dir)
    _data.migrate(events.db_url)
    for server in (small, large):
        started = time.perf_counter()
        _data.migrate(server.db_url)
        seconds = _data.load_bills(
            server.db_url, server.rows, tenant=routes["guest"]["slug"], today=today, now=now
        )
        setup.load_seconds[server.rows] = round(seconds, 1)
        log(
            f"{engine}: {server.rows:,} bills loaded in {seconds:.1f} s "
            f"(migrate + load {time.perf_counter() - started:.1f} s)"
        )
    return setup


def prepare_events(setup: EngineSetup, args, workdir: Path, routes, secret: str, now) -> None:
    slices = 1 + args.rounds * len(CONNECTIONS) + 2  # warm-up, rounds, profiles
    per = args.events_per_cell
    # A fixed number of attempts, whatever the budget: finding an attempt may cost more when
    # the table is larger, so the figure must not depend on how many events a run may send.
    total = max(args.attempts, slices * per + 4)  # + the sanity and diagnostic events
    started = time.perf_counter()
    attempts = _data.load_pending_attempts(
        setup.events.db_url,
        total,
        tenant=routes["guest"]["slug"],
        gateway=routes["guest"]["gateway"],
        now=now,
    )
    prefix = workdir / f"events-{setup.engine}"
    _data.write_events(Path(f"{prefix}-reserved.txt"), attempts[:4], secret)
    for s in range(slices):
        chunk = attempts[4 + s * per : 4 + (s + 1) * per]
        _data.write_events(Path(f"{prefix}-{s}.txt"), chunk, secret)
    setup.events_slices, setup.events_per_slice = slices, per
    setup.events.rows = total
    setup.events_secret = secret
    log(
        f"{setup.engine}: {total:,} pending attempts with signed events in "
        f"{time.perf_counter() - started:.1f} s"
    )


def reserved_event(setup: EngineSetup, index: int) -> tuple[str, str]:
    prefix = setup.scenarios["events"].events_file_prefix
    line = Path(f"{prefix}-reserved.txt").read_text().splitlines()[index]
    checksum, _, body = line.partition("\t")
    return checksum, body


def build_scenarios(setup: EngineSetup, routes: dict, workdir: Path):
    """Sessions, tokens and Lua scripts; every scenario is checked once with requests first."""
    customer = setup.customer
    guest = routes["guest"]
    small, large = setup.small, setup.large
    scen = setup.scenarios
    prefix = workdir / f"events-{setup.engine}"

    # bare endpoints
    b = Browser(small.base)
    r = b.request("GET", "/_bench/bare")
    if r.status_code != 200 or r.text != "ok":
        raise RuntimeError(f"bare GET answered {r.status_code}: {r.text[:200]}")
    scen["bare_get"] = Scenario("bare_get", small, "/_bench/bare", _wrk.script_get({}))
    scen["bare_post"] = Scenario("bare_post", small, "/_bench/bare", events_file_prefix=prefix)
    scen["bare_post"].events_path = "/_bench/bare"

    # the floor: the bare GET plus the lookup's one query, over the same client numbers
    numbers = _data.lookup_numbers(small.rows, LOOKUP_NUMBERS)
    floor_paths = [f"/_bench/query/{guest['slug']}?n={n}" for n in numbers]
    r = b.request("GET", floor_paths[0])
    if r.status_code != 200 or r.text != "ok":
        raise RuntimeError(f"query floor answered {r.status_code}: {r.text[:200]}")
    scen["query_floor"] = Scenario(
        "query_floor", small, floor_paths[0], _wrk.script_paths(floor_paths, {})
    )
    scen["query_floor"].check = "200, ok (bills found)"

    # guest lookup, on both databases
    for name, server in (("lookup", small), ("lookup_1m", large)):
        b = Browser(server.base)
        token = b.csrf(guest["lookup"])
        numbers = _data.lookup_numbers(server.rows, LOOKUP_NUMBERS)
        headers = {"HX-Request": "true", "Cookie": b.cookie_header()}
        form = {"csrf_token": token, "numero": numbers[0]}
        for _ in range(2):  # the second answer shows what every later one does
            r = b.request("POST", guest["lookup"], headers={"HX-Request": "true"}, data=form)
        if r.status_code != 200 or 'class="bill"' not in r.text or "<html" in r.text:
            raise RuntimeError(f"{name}: lookup answered {r.status_code}: {r.text[:300]}")
        check = f"200, htmx fragment of {len(r.content):,} B ({r.headers.get('Content-Encoding')})"
        if "Set-Cookie" in r.headers:
            check += "; sets a cookie on every lookup"
            setup.notes.append(f"{name}: the response sets a cookie (session written each time)")
        bodies = [
            urllib.parse.urlencode({"csrf_token": token, "numero": number}) for number in numbers
        ]
        sequential = []
        for number in numbers[1 : 1 + SEQUENTIAL]:
            started = time.perf_counter()
            b.request(
                "POST",
                guest["lookup"],
                headers={"HX-Request": "true"},
                data={"csrf_token": token, "numero": number},
            )
            sequential.append((time.perf_counter() - started) * 1000)
            if sequential[-1] > 4 * DEGENERATE_MS and len(sequential) >= 3:
                break  # slow enough to know
        scen[name] = Scenario(
            name, server, guest["lookup"], _wrk.script_forms(guest["lookup"], bodies, headers)
        )
        scen[name].check = check + f"; alone {statistics.median(sequential):.1f} ms"
        scen[name].sequential_ms = [round(x, 2) for x in sequential]
        if statistics.median(sequential) > DEGENERATE_MS:
            scen[name].degenerate = True
            setup.notes.append(
                f"{setup.engine} {name}: one lookup alone takes "
                f"{statistics.median(sequential):,.0f} ms (1 connection, one at a time), so its "
                "wrk cells were not run (requests would only queue behind each other and keep "
                "the CPUs busy for the next cells); its time ratio uses the sequential times."
            )
        if name == "lookup":
            page = b.request("GET", guest["lookup"]).text
            match = STATIC_RE.search(page)
            static_path = match.group(1) if match else "/static/app.css"

    # static file
    r = b.request("GET", static_path)
    scen["static"] = Scenario("static", small, static_path, _wrk.script_get({}))
    scen[
        "static"
    ].check = f"{r.status_code}, {len(r.content):,} B ({r.headers.get('Content-Encoding')})"
    if r.status_code != 200:
        raise RuntimeError(f"static {static_path}: {r.status_code}")

    # the customer's notice list, when customer accounts exist
    accounts = routes["accounts"]
    if accounts and customer:
        b = Browser(small.base)
        token = b.csrf(accounts["login"])
        form = {
            "csrf_token": token,
            "email": customer["email"],
            "password": customer["password"],
            "next": "",
        }
        r = b.request("POST", accounts["login"], data=form)
        if r.status_code not in (302, 303):
            raise RuntimeError(f"login answered {r.status_code}: {r.text[:300]}")
        for _ in range(2):
            r = b.request("GET", accounts["notices"])
        shown = sum(number in r.text for number in customer["bill_numbers"])
        if r.status_code != 200 or not shown:
            raise RuntimeError(f"notices answered {r.status_code}: {r.text[:300]}")
        scen["notices"] = Scenario(
            "notices", small, accounts["notices"], _wrk.script_get({"Cookie": b.cookie_header()})
        )
        scen["notices"].check = f"200, {shown} notices, {len(r.content):,} B"
        if "Set-Cookie" in r.headers:
            setup.notes.append("notices: the response sets a cookie on every request")

    # events: one reserved event as the sanity check
    scen["events"] = Scenario("events", setup.events, guest["events"], events_file_prefix=prefix)
    scen["events"].events_path = guest["events"]
    checksum, body = reserved_event(setup, 0)
    r = Browser(setup.events.base).request(
        "POST",
        guest["events"],
        headers={"Content-Type": "application/json", "X-Event-Checksum": checksum},
        data=body.encode(),
    )
    if r.status_code != 200 or r.json().get("outcome") != "applied":
        raise RuntimeError(f"event answered {r.status_code}: {r.text[:300]}")
    scen["events"].check = "200, outcome applied"
    scen["bare_post"].check = "200"


def script_for(setup: EngineSetup, scenario: Scenario, workdir: Path, conns: int, label: str):
    """The Lua file for one cell; events get a fresh slice of never-sent events."""
    if scenario.events_file_prefix is None:
        text = scenario.script
    else:
        if scenario.name == "events":
            index = setup.next_slice
            if index >= setup.events_slices:
                raise RuntimeError("out of pre-generated events: raise --events-per-cell")
            setup.next_slice += 1
        else:
            index = 0  # the bare POST may repeat bodies: it reads none of them
        file = Path(f"{scenario.events_file_prefix}-{index}.txt")
        text = _wrk.script_events(
            scenario.events_path, file, 0, setup.events_per_slice, min(2, conns), {}
        )
    path = workdir / "lua" / f"{setup.engine}-{scenario.name}-{conns}-{label}.lua"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path
