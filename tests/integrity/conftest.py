"""The integrity rig: real gunicorn servers, fake Wompi and PlacetoPay with fault switches, a DB.

- Database: on PostgreSQL (``GASPAY_TEST_DATABASE_URL``) a database of this run's own
  (``gaspay_integrity_<pid>``, created and dropped here; a schema of its own when the user may not
  create databases), so that other suites on the shared ``test`` database cannot clash; on SQLite
  a file. Migrated with ``flask db upgrade``'s code, emptied before every test.
- Servers: two gunicorn servers (2 workers x 4 threads each) on 127.0.0.1 on PostgreSQL, one on
  SQLite, started from ``wsgi:app`` with the configuration in ``GASPAY_*`` variables, exactly as a
  deployment runs them: no sandbox, real-looking per-tenant keys, the gateway at the fake.
- Figures: every test records what it counted; at the end of the session they are written to
  ``test-artifacts/integrity.json`` (and ``integrity-<database>.json``) with the command, and
  printed in the terminal summary.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from gaspay import create_app
from gaspay.config import normalise_database_url
from gaspay.extensions import db
from tests.conftest import _empty_tables
from tests.integrity import figures
from tests.integrity.fake_placetopay import FakePlacetoPay, Site
from tests.integrity.fake_wompi import FakeWompi, Merchant
from tests.integrity.portal import World
from tests.integrity.rig import (
    BIN,
    ENGINE,
    GATEWAY_TIMEOUT,
    LOCAL_APP_NAME,
    P2P_LOGIN,
    P2P_SECRET,
    P2P_TENANT,
    PG_URL,
    ROOT,
    SERVER_APP_NAME,
    SERVERS,
    TENANTS,
    free_port,
    keys,
)

# --------------------------------------------------------------------------- database


def _create_pg_database(base_url: str) -> tuple[str, Callable[[], None]]:
    base = make_url(normalise_database_url(base_url))
    name = f"gaspay_integrity_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = base.set(database=name)

            def drop():
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

        except DBAPIError:  # no CREATEDB privilege: a schema of our own instead
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{name}"'))
            url = base.update_query_dict({"options": f"-csearch_path={name}"})

            def drop():
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))

    except BaseException:
        admin.dispose()
        raise

    def cleanup():
        try:
            drop()
        finally:
            admin.dispose()

    return url.render_as_string(hide_password=False), cleanup


@pytest.fixture(scope="session")
def integrity_db(tmp_path_factory):
    if PG_URL:
        url, cleanup = _create_pg_database(PG_URL)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('integrity') / 'gaspay.sqlite3'}"
        cleanup = None
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "m" * 40})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "gaspay" / "migrations"))
        db.engine.dispose()
    yield url
    if cleanup:
        cleanup()


# --------------------------------------------------------------------------- servers


def _env_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _named_url(database_url: str, name: str) -> str:
    """Connections carry a name, so the probe can tell the portal's from its own."""
    if not database_url.startswith("postgresql"):
        return database_url
    url = make_url(normalise_database_url(database_url))
    url = url.update_query_dict({"application_name": name})
    return url.render_as_string(hide_password=False)


class TransactionProbe:
    """Called by the fake gateway on every request it receives: is any connection of the portal
    (servers, job processes, the in-process job) sitting inside an open transaction meanwhile?

    Meaningful only while requests are sequential: then the one making the gateway call is the
    one caught (reliability promise 2: never hold a transaction open across a gateway call).
    """

    def __init__(self, database_url: str):
        self.engine = create_engine(normalise_database_url(database_url), poolclass=NullPool)
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.queries: list[tuple[str, str]] = []

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()
            self.calls.clear()
            self.queries.clear()

    def __call__(self, step: str) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT query FROM pg_stat_activity WHERE state = 'idle in transaction' "
                    "AND datname = current_database() AND application_name IN (:server, :local)"
                ),
                {"server": SERVER_APP_NAME, "local": LOCAL_APP_NAME},
            ).all()
            conn.rollback()
        with self.lock:
            self.calls[step] += 1
            if rows:
                self.hits[step] += 1
                self.queries.extend((step, " ".join(r.query.split())[:160]) for r in rows)

    def dispose(self) -> None:
        self.engine.dispose()


def _gunicorn_options() -> list[str]:
    """Gunicorn 25+ opens a control socket in ~/.gunicorn: servers of a test need none."""
    helptext = subprocess.run(
        [str(BIN / "gunicorn"), "--help"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return ["--no-control-socket"] if "--no-control-socket" in helptext else []


@dataclass
class Portal:
    root: Path
    flask: str
    servers: list[str]
    fake: FakeWompi
    p2p: FakePlacetoPay
    settings: dict
    env: dict[str, str]
    app: object
    engine: str
    logs: list[Path]
    probe: TransactionProbe | None

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in self.logs:
            text_ = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text_))
        return "\n".join(out)


def _wait_healthy(base: str, proc: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn at {base} exited:\n{log.read_text()[-3000:]}")
        try:
            with requests.get(f"{base}/healthz", timeout=2) as response:
                if response.status_code == 200:
                    return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn at {base} not healthy in time:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def portal(integrity_db, tmp_path_factory):
    """The fake gateway, the app servers and an in-process app on the same database."""
    tmp = tmp_path_factory.mktemp("integrity-run")
    merchants = [
        Merchant(slug, **{k: v for k, v in keys(slug).items() if k != "events_secret"})
        for slug in TENANTS
    ]
    fake = FakeWompi(merchants, timeout_sleep=GATEWAY_TIMEOUT + 0.6).start()
    p2p = FakePlacetoPay(
        [Site(P2P_TENANT, P2P_LOGIN, P2P_SECRET)], timeout_sleep=GATEWAY_TIMEOUT + 0.6
    ).start()
    settings = {
        "SECRET_KEY": "integrity-suite-secret-key-" + "s" * 32,
        "DATABASE_URL": integrity_db,
        "SANDBOX": False,
        "TENANTS_DIR": str(ROOT / "instance" / "tenants"),
        "MAIL_DIR": str(tmp / "mail"),
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOOKUP_RATE_LIMIT": "100000 per minute",
        "LOOKUP_TARGET_RATE_LIMIT": "100000 per minute",
        "PAY_RATE_LIMIT": "100000 per minute",
        "GATEWAY_TIMEOUT_SECONDS": GATEWAY_TIMEOUT,
        "GATEWAY_RETRIES": 0,
        "ASYNC_URL_WAIT_SECONDS": 2,
    }
    for slug in TENANTS:
        prefix = f"{slug.upper()}_WOMPI_"
        settings[prefix + "API_URL"] = fake.api_url
        settings[prefix + "CHECKOUT_URL"] = fake.url + "/p/"
        for name, value in keys(slug).items():
            settings[prefix + name.upper()] = value
    # Gasnova, the PlacetoPay demo tenant, talks to the fake PlacetoPay.
    settings["GASNOVA_PLACETOPAY_LOGIN"] = P2P_LOGIN
    settings["GASNOVA_PLACETOPAY_SECRET_KEY"] = P2P_SECRET
    settings["GASNOVA_PLACETOPAY_BASE_URL"] = p2p.url

    env = {k: v for k, v in os.environ.items() if not k.startswith("GASPAY_")}
    env.update({f"GASPAY_{k}": _env_value(v) for k, v in settings.items()})
    env["GASPAY_DATABASE_URL"] = _named_url(integrity_db, SERVER_APP_NAME)
    env["GASPAY_INSTANCE_PATH"] = str(tmp / "instance")
    (tmp / "instance").mkdir()

    procs: list[tuple[subprocess.Popen, object]] = []
    servers, logs = [], []
    options = _gunicorn_options()
    try:
        for i in range(SERVERS):
            port = free_port()
            log_path = tmp / f"gunicorn-{i}.log"
            log = log_path.open("wb")
            proc = subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--timeout",
                    "60",
                    "--graceful-timeout",
                    "5",
                    *options,
                    "wsgi:app",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            procs.append((proc, log))
            servers.append(f"http://127.0.0.1:{port}")
            logs.append(log_path)
        deadline = time.monotonic() + 60
        for base, (proc, _), log_path in zip(servers, procs, logs, strict=True):
            _wait_healthy(base, proc, log_path, deadline)
        app = create_app(
            {
                **settings,
                "TESTING": True,
                "DATABASE_URL": _named_url(integrity_db, LOCAL_APP_NAME),
            }
        )
        probe = TransactionProbe(integrity_db) if PG_URL else None
        yield Portal(
            root=ROOT,
            flask=str(BIN / "flask"),
            servers=servers,
            fake=fake,
            p2p=p2p,
            settings=settings,
            env=env,
            app=app,
            engine=ENGINE,
            logs=logs,
            probe=probe,
        )
        if probe is not None:
            probe.dispose()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, log in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            log.close()
        fake.stop()
        p2p.stop()


def _world(portal, request, provider: str):
    """A clean slate: empty tables, fresh gateways; an app context for database checks."""
    portal.fake.reset()
    portal.p2p.reset()
    with portal.app.app_context():
        db.session.remove()
        _empty_tables()
        w = World(portal, provider)
        try:
            yield w
        finally:
            w.close()
            portal.fake.reset()
            portal.p2p.reset()
            db.session.remove()
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                print(portal.log_tail())


@pytest.fixture
def world(portal, request):
    yield from _world(portal, request, "wompi")


@pytest.fixture
def p2p_world(portal, request):
    """The same rig, seen through PlacetoPay: Gasnova's payers, the fake PlacetoPay."""
    yield from _world(portal, request, "placetopay")


# --------------------------------------------------------------------------- figures


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


def pytest_runtest_logreport(report):
    figures.add_duration(report.nodeid, report.duration, skipped=report.skipped)


def pytest_sessionfinish(session, exitstatus):
    if not figures.has_figures():
        return
    doc = figures.document(
        ENGINE, SERVERS, tuple(session.config.invocation_params.args), exitstatus
    )
    session.config._integrity_doc = doc
    session.config._integrity_paths = figures.write(doc)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    doc = getattr(config, "_integrity_doc", None)
    if doc is None:
        return
    terminalreporter.section("integrity figures")
    for line in figures.summary_lines(doc):
        terminalreporter.write_line(line)
    for path in getattr(config, "_integrity_paths", []):
        terminalreporter.write_line(f"written: {path.relative_to(ROOT)}")
