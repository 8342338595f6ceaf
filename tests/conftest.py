"""Fixtures: one migrated database per session (SQLite, or PostgreSQL when
GASPAY_TEST_DATABASE_URL is set), emptied before every test; apps with CSRF on; no network."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from pathlib import Path

import pytest
import responses
from flask import g, request_started
from sqlalchemy import create_engine, text

from gaspay import create_app
from gaspay.config import normalise_database_url
from gaspay.extensions import db

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("GASPAY_TEST_DATABASE_URL")
TABLES = (
    "outbox_deliveries",
    "outbox_messages",
    "outbox_disabled_endpoints",
    "staff_notes",
    "staff_audit",
    "staff_users",
    "payment_reviews",
    "gateway_events",
    "attempt_transitions",
    "bill_holds",
    "attempt_bills",
    "payment_attempts",
    "password_resets",
    "customer_clients",
    "customers",
    "gateway_cache",
    "bill_imports",
    "bills",
)


def pytest_report_header(config):
    return f"gaspay database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    if PG_URL:
        url = normalise_database_url(PG_URL)
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'gaspay-test.sqlite3'}"
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "t" * 40})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "gaspay" / "migrations"))
        db.engine.dispose()
    return url


def base_config(database_url: str, **extra) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "DATABASE_URL": database_url,
        "SANDBOX": True,
        "SANDBOX_BASE_URL": "http://sandbox.test",
        "SANDBOX_SEND_EVENTS": False,
        "LOOKUP_RATE_LIMIT": "1000 per minute",
        "LOOKUP_TARGET_RATE_LIMIT": "1000 per minute",
        "PAY_RATE_LIMIT": "1000 per minute",
        "ASYNC_URL_WAIT_SECONDS": 0.2,
        "ASYNC_URL_POLL_INTERVAL": 0.01,
        "GATEWAY_RETRIES": 0,
    }
    config.update(extra)
    return config


def _fresh_g(sender, **_extra) -> None:
    g.__dict__.clear()


def _empty_tables() -> None:
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


@pytest.fixture
def make_app(database_url, request):
    apps = []

    def factory(**extra):
        app = create_app(base_config(database_url, **extra))
        # The `app` fixture keeps an app context open for the test body, and Flask reuses it
        # for test-client requests; start each request with an empty `g`, as in production.
        request_started.connect(_fresh_g, app)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        _empty_tables()
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def tenants(app):
    return app.extensions["gaspay.tenants"]


@pytest.fixture
def insesp(tenants):
    return tenants["insesp"]


@pytest.fixture
def interservicios(tenants):
    return tenants["interservicios"]


_bill_counter = iter(range(1, 10**9))


@pytest.fixture
def make_bill(app):
    from gaspay.billing.models import Bill
    from gaspay.billing.numbers import normalise_number
    from gaspay.timeutil import today_in_bogota

    def factory(tenant="insesp", client="0021053", **values):
        n = next(_bill_counter)
        bill = Bill(
            tenant=tenant,
            client_number=normalise_number(client),
            client_display=client,
            bill_number=values.pop("bill_number", f"T-{n}"),
            concept=values.pop("concept", "Factura del Gas"),
            holder_first_name=values.pop("first_name", "Usuario"),
            holder_last_name=values.pop("last_name", "Demo"),
            email=values.pop("email", "usuario.demo@correo.test"),
            phone=values.pop("phone", "6472050"),
            amount_cents=values.pop("amount_cents", 1_800_000),
            vat_cents=values.pop("vat_cents", 0),
            due_on=values.pop("due_on", today_in_bogota() + dt.timedelta(days=10)),
            **values,
        )
        db.session.add(bill)
        db.session.commit()
        return bill

    return factory


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def csrf(client):
    """A valid CSRF token for this client's session."""

    def get(url: str = "/insesp/factura") -> str:
        return csrf_from(client.get(url).get_data(as_text=True))

    return get


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that tries to reach a host that is not this machine."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (
            host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")
        ):
            return real_connect(self, address)
        raise RuntimeError(f"test tried to reach the network: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def mocked():
    """`responses` with every unregistered URL refused (no network reaches a gateway)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps
