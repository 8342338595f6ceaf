"""Customers: creation, linking, authentication with throttling, password resets."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from gaspay.accounts.models import Customer, CustomerClient, PasswordReset
from gaspay.billing.numbers import normalise_number
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import as_utc, utcnow

MAX_FAILURES = 5
LOCK_MINUTES = 15
RESET_MINUTES = 60
MIN_PASSWORD = 10
# A real hash to check against when the e-mail is unknown: same work, same answer, no enumeration.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A customer operation cannot be done; the message is for the operator or the customer."""


def customers_query(slug: str):
    return select(Customer).where(Customer.tenant == slug)


def find_customer(slug: str, email: str) -> Customer | None:
    return db.session.scalars(
        customers_query(slug).where(Customer.email == email.strip().lower())
    ).first()


def get_customer(slug: str, customer_id: int) -> Customer | None:
    return db.session.scalars(customers_query(slug).where(Customer.id == customer_id)).first()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"La contraseña debe tener al menos {MIN_PASSWORD} caracteres.")
    return generate_password_hash(password)


def create_customer(slug: str, email: str, password: str, full_name: str = "") -> Customer:
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError("Correo inválido.")
    if find_customer(slug, email):
        raise AccountError(f"Ya existe un cliente con el correo {email}.")
    with write_unit():
        customer = Customer(
            tenant=slug,
            email=email,
            full_name=full_name,
            password_hash=hash_password(password),
            session_token=secrets.token_hex(16),
        )
        db.session.add(customer)
    return customer


def link_client(customer: Customer, client_number: str) -> bool:
    number = normalise_number(client_number)
    if number in customer.client_numbers:
        return False
    with write_unit():
        db.session.add(
            CustomerClient(tenant=customer.tenant, customer_id=customer.id, client_number=number)
        )
    db.session.refresh(customer)
    return True


def authenticate(slug: str, email: str, password: str) -> Customer | None:
    """The customer, or None; unknown e-mail and wrong password look the same from outside.

    After MAX_FAILURES wrong passwords the account is locked for LOCK_MINUTES (even for the
    right password), which the per-IP rate limit complements.
    """
    customer = find_customer(slug, email or "")
    if customer is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    now = utcnow()
    locked = customer.locked_until and as_utc(customer.locked_until) > now
    ok = check_password_hash(customer.password_hash, password or "") and not locked
    with write_unit():
        if ok:
            values = {"failed_logins": 0, "locked_until": None}
        else:
            failures = customer.failed_logins + (0 if locked else 1)
            values = {"failed_logins": failures}
            if failures >= MAX_FAILURES and not locked:
                values.update(
                    failed_logins=0, locked_until=now + dt.timedelta(minutes=LOCK_MINUTES)
                )
        db.session.execute(update(Customer).where(Customer.id == customer.id).values(**values))
    db.session.refresh(customer)
    return customer if ok else None


def rotate_session(customer: Customer) -> None:
    """A new session token: every cookie issued before stops working."""
    with write_unit():
        db.session.execute(
            update(Customer)
            .where(Customer.id == customer.id)
            .values(session_token=secrets.token_hex(16))
        )
    db.session.refresh(customer)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_reset(customer: Customer) -> str:
    token = secrets.token_urlsafe(32)
    with write_unit():
        db.session.add(
            PasswordReset(
                tenant=customer.tenant,
                customer_id=customer.id,
                token_hash=_token_hash(token),
                expires_at=utcnow() + dt.timedelta(minutes=RESET_MINUTES),
            )
        )
    return token


def valid_reset(tenant: Tenant, token: str) -> PasswordReset | None:
    reset = db.session.scalars(
        select(PasswordReset).where(
            PasswordReset.tenant == tenant.slug, PasswordReset.token_hash == _token_hash(token)
        )
    ).first()
    if reset is None or reset.used_at is not None or as_utc(reset.expires_at) < utcnow():
        return None
    return reset


def use_reset(tenant: Tenant, token: str, new_password: str) -> Customer | None:
    """Set the password with a single-use token; None if the token is invalid, used or expired."""
    password_hash = hash_password(new_password)
    reset = valid_reset(tenant, token)
    if reset is None:
        return None
    with write_unit():
        used = db.session.execute(
            update(PasswordReset)
            .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
            .values(used_at=utcnow())
        ).rowcount
        if used != 1:
            return None
        db.session.execute(
            update(Customer)
            .where(Customer.id == reset.customer_id, Customer.tenant == tenant.slug)
            .values(
                password_hash=password_hash,
                session_token=secrets.token_hex(16),
                failed_logins=0,
                locked_until=None,
            )
        )
    return get_customer(tenant.slug, reset.customer_id)


def ensure_demo_customer() -> str:
    from gaspay.demo import DEMO_CUSTOMER as D

    customer = find_customer(D["tenant"], D["email"])
    if customer is None:
        customer = create_customer(D["tenant"], D["email"], D["password"], D["full_name"])
    for number in D["clients"]:
        link_client(customer, number)
    return f"cliente demo: {customer.email} ({', '.join(customer.client_numbers)})"
