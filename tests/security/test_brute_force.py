"""Login brute force: what tests/test_accounts.py does not already show.

Already there (referenced from docs/RELIABILITY.md): the lock after MAX_FAILURES wrong passwords
from one client, with the same answer as a wrong password
(test_account_locks_after_repeated_failures_with_the_same_answer), the per-IP limit answering
429 (test_login_failures_are_throttled_per_ip), the same page for an unknown e-mail and a wrong
password (test_wrong_email_and_wrong_password_get_the_same_answer).

Here: guesses spread over many IPs still lock the account; one IP spraying many accounts meets
the default per-IP limit; an unknown e-mail costs the same time as a known one; what the count
and the lock are (every wrong password counted, every MAX_FAILURES-th locks unless locked
already, a lock never extended, a login clears both). Parallel guesses:
tests/integrity/test_lockout_race.py.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest
from sqlalchemy import update

from gaspay.accounts.models import Customer
from gaspay.accounts.services import MAX_FAILURES, authenticate
from gaspay.extensions import db
from gaspay.timeutil import as_utc
from tests.conftest import csrf_from
from tests.test_accounts import BASE, EMAIL, PASSWORD, fresh, make_customer


@pytest.fixture
def customer(app):
    return make_customer()


@pytest.fixture
def attempt_login(make_app, app):
    def factory(**config):
        client = make_app(**config).test_client()
        token = csrf_from(client.get(f"{BASE}/entrar").get_data(as_text=True))

        def login(email=EMAIL, password=PASSWORD, ip="10.9.0.1"):
            return client.post(
                f"{BASE}/entrar",
                data={"email": email, "password": password, "csrf_token": token},
                environ_base={"REMOTE_ADDR": ip},
            )

        return login

    return factory


def test_guesses_from_many_ips_still_lock_the_account(attempt_login, customer):
    login = attempt_login()
    for i in range(MAX_FAILURES):
        assert login(password=f"adivinanza-{i}", ip=f"192.0.2.{i + 1}").status_code == 422
    # The right password, from an address never seen before: the account is locked.
    response = login(ip="198.51.100.77")
    assert response.status_code == 422
    assert "El correo o la contraseña no son correctos" in response.get_data(as_text=True)
    assert fresh(customer).locked_until is not None


def test_spraying_many_accounts_from_one_ip_meets_the_default_limit(attempt_login, customer):
    """The default GASPAY_LOGIN_RATE_LIMIT (10 per minute per IP), not a test override."""
    login = attempt_login()
    codes = [login(email=f"persona{i}@correo.test").status_code for i in range(10)]
    assert codes == [422] * 10
    blocked = login()  # even the right password of a real customer, from that IP
    assert blocked.status_code == 429
    assert "Demasiados intentos" in blocked.get_data(as_text=True)
    assert fresh(customer).failed_logins == 0  # the sprayed accounts were never this one


def test_an_unknown_email_costs_the_same_time_as_a_wrong_password(attempt_login, customer):
    """A password hash is checked either way, so timing does not tell which e-mails exist."""
    login = attempt_login()
    known, unknown = [], []
    for i in range(4):  # interleaved; each from its own IP to stay under the per-IP limit
        for email, into in ((EMAIL, known), ("nadie@interservicios.test", unknown)):
            started = time.perf_counter()
            response = login(email=email, password="no-es-esta", ip=f"10.8.{i}.{len(into)}")
            assert response.status_code == 422
            into.append(time.perf_counter() - started)
    known_s, unknown_s = statistics.median(known), statistics.median(unknown)
    assert unknown_s > 0.5 * known_s and known_s > 0.5 * unknown_s, (known_s, unknown_s)


def _end_the_lock(customer) -> None:
    db.session.execute(
        update(Customer)
        .where(Customer.id == customer.id)
        .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    db.session.commit()


def test_the_count_and_the_lock(app, customer):
    slug = "interservicios"
    for _ in range(MAX_FAILURES - 1):
        assert authenticate(slug, EMAIL, "no-es-esta") is None
    assert fresh(customer).failed_logins == MAX_FAILURES - 1 and customer.locked_until is None
    assert authenticate(slug, EMAIL, "no-es-esta") is None  # the MAX_FAILURES-th: locked
    locked = fresh(customer)
    assert locked.failed_logins == MAX_FAILURES and locked.locked_until is not None
    until = locked.locked_until
    for _ in range(3):  # refused while locked and counted; the lock is not extended
        assert authenticate(slug, EMAIL, "tampoco-es-esta") is None
    assert authenticate(slug, EMAIL, PASSWORD) is None  # the right one too (not a failure)
    assert (fresh(customer).failed_logins, customer.locked_until) == (MAX_FAILURES + 3, until)

    _end_the_lock(customer)  # the next lock at the next multiple of MAX_FAILURES
    assert authenticate(slug, EMAIL, "no-es-esta") is None
    assert fresh(customer).failed_logins == MAX_FAILURES + 4
    assert as_utc(customer.locked_until) < dt.datetime.now(dt.UTC)  # still unlocked
    assert authenticate(slug, EMAIL, "no-es-esta") is None
    relocked = fresh(customer)
    assert relocked.failed_logins == 2 * MAX_FAILURES
    assert as_utc(relocked.locked_until) > dt.datetime.now(dt.UTC)
    assert authenticate(slug, EMAIL, PASSWORD) is None

    _end_the_lock(customer)
    assert authenticate(slug, EMAIL, PASSWORD) is not None  # a login clears the count and lock
    cleared = fresh(customer)
    assert (cleared.failed_logins, cleared.locked_until) == (0, None)
