"""Lock-out under a burst of parallel wrong passwords (outside review, point 11).

The review got 23 wrong passwords past the customer lock-out in one burst, then logged in with the
right one: every request read the failure count before any of them wrote it back. The count and
the lock are now one UPDATE each (``gaspay.accounts.services._count_failure``), so:

1. Fifty threads of the in-process app call ``authenticate`` with wrong passwords at once.
2. Fifty wrong passwords reach the live servers at once (both servers on PostgreSQL), each from
   an address of its own, as a botnet would send them: the per-IP limit never applies.

Either way every guess is counted (``failed_logins`` is exactly 50: none lost to a stale read),
the account is locked by the burst and the right password is then refused.
Runs on SQLite (one server) and on PostgreSQL (two servers sharing the database).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from requests.adapters import HTTPAdapter

from gaspay.accounts.models import Customer
from gaspay.accounts.services import LOCK_MINUTES, MAX_FAILURES, authenticate, create_customer
from gaspay.extensions import db
from gaspay.timeutil import as_utc, utcnow
from tests.integrity.figures import record_race
from tests.integrity.portal import HTTP_TIMEOUT, World, spanish_page
from tests.integrity.rig import ENGINE

BURST = 10 * MAX_FAILURES  # 50
LOCK = dt.timedelta(minutes=LOCK_MINUTES)
SLUG = "interservicios"
EMAIL = "rafaga@interservicios.test"
PASSWORD = "la-clave-correcta-2026"
LOGIN = f"/{SLUG}/clientes/entrar"
LOGIN_FAILED = "El correo o la contraseña no son correctos"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def make_customer() -> int:
    customer_id = create_customer(SLUG, EMAIL, PASSWORD, "Cliente Ráfaga").id
    db.session.rollback()
    return customer_id


def account(customer_id: int) -> Customer:
    db.session.rollback()  # see what the others committed
    return db.session.get(Customer, customer_id, populate_existing=True)


def assert_locked(customer_id: int, started) -> Customer:
    row = account(customer_id)
    assert row.failed_logins == BURST, row.failed_logins  # every guess counted, none lost
    assert row.locked_until is not None
    until = as_utc(row.locked_until)
    assert started + LOCK <= until <= utcnow() + LOCK, until  # locked by this burst, still on
    return row


class FromAddress(HTTPAdapter):
    """Connections from one loopback address of our choosing (127.0.0.0/8 is all local)."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Browser:
    """One visitor of the login page: its own cookies, its own address, one server."""

    def __init__(self, base: str, address: str):
        self.base = base
        self.http = requests.Session()
        self.http.headers["Connection"] = "close"
        self.http.mount("http://", FromAddress(address))

    def open(self) -> str:
        page = self.http.get(self.base + LOGIN, timeout=HTTP_TIMEOUT)
        assert page.status_code == 200, page.text[:300]
        return CSRF_RE.search(page.text).group(1)

    def login(self, token: str, password: str) -> requests.Response:
        return self.http.post(
            self.base + LOGIN,
            data={"email": EMAIL, "password": password, "csrf_token": token},
            timeout=HTTP_TIMEOUT * 3,
            allow_redirects=False,
        )

    def notices(self) -> requests.Response:
        return self.http.get(
            f"{self.base}/{SLUG}/clientes/avisos", timeout=HTTP_TIMEOUT, allow_redirects=False
        )

    def close(self) -> None:
        self.http.close()


def test_fifty_parallel_wrong_passwords_in_the_service_lock_the_account(world: World):
    app = world.portal.app
    customer_id = make_customer()
    started = utcnow()
    start = threading.Barrier(BURST)

    def guess(i: int) -> bool:
        with app.app_context():
            try:
                start.wait(timeout=30)
                return authenticate(SLUG, EMAIL, f"adivinanza-{i:02d}") is not None
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        answers = list(pool.map(guess, range(BURST)))

    assert not any(answers)
    assert authenticate(SLUG, EMAIL, PASSWORD) is None, "the right password got in"
    row = assert_locked(customer_id, started)
    record_race(
        "lockout_burst_service",
        {
            "engine": ENGINE,
            "wrong_passwords": BURST,
            "threads": BURST,
            "failed_logins": row.failed_logins,
            "right_password_refused": True,
        },
    )


def test_fifty_parallel_wrong_passwords_over_http_lock_the_account(world: World):
    customer_id = make_customer()
    browsers = [
        Browser(world.server(i), f"127.0.{1 + i // 200}.{1 + i % 200}") for i in range(BURST + 1)
    ]
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            tokens = list(pool.map(Browser.open, browsers))
        started = utcnow()
        start = threading.Barrier(BURST)

        def guess(i: int) -> requests.Response:
            start.wait(timeout=30)
            return browsers[i].login(tokens[i], f"adivinanza-{i:02d}")

        with ThreadPoolExecutor(max_workers=BURST) as pool:
            answers = list(pool.map(guess, range(BURST)))
        statuses = Counter(r.status_code for r in answers)
        assert statuses == {422: BURST}, statuses  # every guess reached the password check
        for response in answers:
            spanish_page(response, 422, LOGIN_FAILED)

        # The right password, from an address that never guessed (the other server on PG).
        last = browsers[BURST]
        right = last.login(tokens[BURST], PASSWORD)
        assert right.status_code != 303, "the right password got in"
        spanish_page(right, 422, LOGIN_FAILED)
        assert last.notices().status_code == 303  # no session: back to the login page
        row = assert_locked(customer_id, started)
    finally:
        for browser in browsers:
            browser.close()
    record_race(
        "lockout_burst_http",
        {
            "engine": ENGINE,
            "servers": len(world.servers),
            "wrong_passwords": BURST,
            "addresses": BURST + 1,
            "answered_422": statuses[422],
            "failed_logins": row.failed_logins,
            "right_password_refused": right.status_code == 422,
        },
    )
