"""Fixtures for the staff area: fast Argon2 parameters, staff users, payments to find.

Requests go through a client on its own app object (each request gets a fresh app context,
as in production); the test body uses the `app` fixture's context and session, so it reads
what requests committed after a rollback.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import tempfile
import time

import pyotp
import pytest

from gaspay.extensions import db
from gaspay.payments import services as payment_services
from gaspay.staff import auth
from gaspay.staff.models import StaffUser
from tests.conftest import _empty_tables, csrf_from
from tests.payments_helpers import answer, open_pse_attempt

FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
PASSWORD = "clave-de-prueba-2026"
UPLOADS = tempfile.mkdtemp(prefix="gaspay-staff-uploads-")  # never the repository's instance/
STAFF_CONFIG = {
    "STAFF_ARGON2": FAST_ARGON2,
    "STAFF_LOGIN_RATE_LIMIT": "1000 per minute",
    "STAFF_UPLOAD_DIR": UPLOADS,
}


@pytest.fixture
def app(make_app):
    app = make_app(**STAFF_CONFIG)
    with app.app_context():
        _empty_tables()
        yield app
        db.session.remove()


@pytest.fixture
def client(make_app, app):
    return make_app(**STAFF_CONFIG).test_client()


def make_staff(
    tenant="insesp", email=None, role="admin", *, password=PASSWORD, secret=None, enrolled=True
) -> StaffUser:
    email = email or f"{role}-{secrets.token_hex(3)}@{tenant}.test"
    db.session.rollback()  # no stale read transaction (SQLite would refuse the write)
    user = StaffUser(
        tenant=tenant,
        email=email,
        full_name=f"Persona {role}",
        role=role,
        password_hash=auth.hash_password(password),
        totp_secret=(secret or pyotp.random_base32()) if enrolled else None,
        totp_last_step=0,
        failed_logins=0,
        session_token=secrets.token_hex(16),
        created_by="test",
    )
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def staff():
    return make_staff


def code(secret: str, steps_ahead: int = 0) -> str:
    """The TOTP code of now (or of a neighbouring 30-second step, which is still accepted)."""
    return auth.totp(secret).generate_otp(int(time.time() // 30) + steps_ahead)


def fresh(user: StaffUser) -> StaffUser:
    db.session.rollback()
    return db.session.get(StaffUser, user.id, populate_existing=True)


def login(client, user: StaffUser, *, password=PASSWORD, steps_ahead=0, follow=False):
    """The whole flow: Ingresar (e-mail, password), then Verificar (the TOTP code)."""
    base = f"/{user.tenant}/empresa"
    token = csrf_from(client.get(f"{base}/ingresar").get_data(as_text=True))
    first = client.post(
        f"{base}/ingresar",
        data={"csrf_token": token, "email": user.email, "password": password},
    )
    assert first.status_code == 303, first.get_data(as_text=True)
    assert first.headers["Location"].startswith(f"{base}/verificar")
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    secret = fresh(user).totp_secret or fresh(user).totp_pending
    return client.post(
        f"{base}/verificar",
        data={"csrf_token": csrf_from(page), "code": code(secret, steps_ahead)},
        follow_redirects=follow,
    )


def sign_in(client, user: StaffUser) -> None:
    """A staff session as a completed login leaves it (for tests about what comes after)."""
    with client.session_transaction() as sess:
        sess[auth.SESSION_KEY] = auth._payload(user, auth.DONE)


def page_csrf(client, url: str) -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


HTML_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def approved(app, make_bill, insesp):
    """An approved PSE payment of one bill, and its bill."""

    def factory(tenant=None, client="0021053", cus="CUS-1", txn_id=None, **bill_values):
        tenant = tenant or insesp
        bill = make_bill(tenant=tenant.slug, client=client, **bill_values)
        attempt = open_pse_attempt(
            tenant,
            bill,
            document_type="CC",
            document_number="1020304050",
            bank_code="1007",
            bank_name="BANCOLOMBIA",
            payment_method="PSE",
        )
        txn_id = txn_id or f"txn-{attempt.id}-{secrets.token_hex(2)}"
        payment_services.apply_answer(
            attempt, answer(attempt, status="APPROVED", txn_id=txn_id, cus=cus), "event"
        )
        db.session.rollback()
        return db.session.get(type(attempt), attempt.id, populate_existing=True), bill

    return factory


def set_approved_at(attempt, moment: dt.datetime) -> None:
    from sqlalchemy import update

    from gaspay.payments.models import PaymentAttempt

    db.session.rollback()
    db.session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.id == attempt.id)
        .values(finalized_at=moment, created_at=moment)
    )
    db.session.commit()
