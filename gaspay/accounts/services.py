"""Customers: creation, linking, authentication with throttling, password resets."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import secrets
from collections.abc import Callable

from sqlalchemy import Integer, and_, bindparam, case, literal, or_, select, update
from sqlalchemy.orm import lazyload
from werkzeug.security import check_password_hash, generate_password_hash

from gaspay.accounts.models import Customer, CustomerClient, PasswordReset, Timestamp
from gaspay.billing.numbers import normalise_number
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCK_MINUTES = 15
RESET_MINUTES = 60
MIN_PASSWORD = 10


# A real hash to check against when the e-mail is unknown: same work, same answer, no enumeration.
@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: scrypt takes 32 MB for a moment, and every process
    (the worker, an export) would carry that peak without ever checking a password."""
    return generate_password_hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A customer operation cannot be done; the message is for the operator or the customer."""


def customers_query(slug: str):
    return select(Customer).where(Customer.tenant == slug)


def find_customer(slug: str, email: str) -> Customer | None:
    return db.session.scalars(
        customers_query(slug).where(Customer.email == email.strip().lower())
    ).first()


def get_customer(slug: str, customer_id: int) -> Customer | None:
    """The customer alone (the login check of every page of the area): their client numbers
    are read when asked for; the notices' query reads them itself, as a subquery."""
    return db.session.scalars(_customer_select(slug), {"id": customer_id}).first()


@functools.cache
def _customer_select(slug: str):
    """Built once per tenant (building a select costs about what running it does): the id is
    a bound parameter."""
    return (
        customers_query(slug)
        .where(Customer.id == bindparam("id", type_=Integer))
        .options(lazyload(Customer.clients))
    )


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

    ``failed_logins`` counts the wrong passwords since the last login; every MAX_FAILURES-th
    of them that arrives while the account is not locked locks it for LOCK_MINUTES (even for
    the right password), which the per-IP rate limit complements. A lock is never extended, so
    after one ends the customer has up to MAX_FAILURES tries again.

    The count and the lock are decided by the database, in one UPDATE per attempt (see
    _count_failure and _clear_failures), never from a value read earlier: a burst of parallel
    guesses is counted exactly and cannot slip in under a stale count.
    """
    customer = find_customer(slug, email or "")
    if customer is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    customer_id = customer.id
    right = check_password_hash(customer.password_hash, password or "")
    with write_unit():
        if right:
            ok = _clear_failures(customer_id)
        else:
            ok = False
            _count_failure(customer_id)
    db.session.refresh(customer)
    return customer if ok else None


def _unlocked(now: dt.datetime):
    return or_(Customer.locked_until.is_(None), Customer.locked_until <= now)


def _clear_failures(customer_id: int) -> bool:
    """The right password: reset the count unless the account is locked right now."""
    cleared = db.session.execute(
        update(Customer)
        .where(Customer.id == customer_id, _unlocked(utcnow()))
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return cleared.rowcount == 1


def _count_failure(customer_id: int) -> None:
    """A wrong password, counted by the database itself: ``failed_logins + 1`` and the lock in
    the same statement, both computed from the row as it is when the update runs (concurrent
    updates of the row wait for each other on both engines)."""
    now = utcnow()
    until = now + dt.timedelta(minutes=LOCK_MINUTES)
    unlocked = _unlocked(now)
    counted = Customer.failed_logins + 1
    row = db.session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(
            failed_logins=counted,
            locked_until=case(
                (and_(unlocked, counted % MAX_FAILURES == 0), literal(until, Timestamp)),
                else_=Customer.locked_until,
            ),
        )
        .returning(Customer.failed_logins, Customer.locked_until)
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None and row.locked_until is not None and as_utc(row.locked_until) == until:
        log.info("customer %s locked after %s wrong passwords", customer_id, row.failed_logins)


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


def create_reset(customer: Customer, then: Callable[[str], None] | None = None) -> str:
    """A new reset link's token; ``then(token)`` runs in the same write unit (the outbox
    e-mail that carries the link commits with the link, or neither does)."""
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
        if then is not None:
            then(token)
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


class _ResetTaken(Exception):
    """The link was used, or revoked, by another request a moment ago: undo the unit."""


def _store_password(slug: str, customer_id: int, password_hash: str) -> list[int]:
    """Inside a write unit: the new password, a new session token, no lock, and every reset
    link of the customer still outstanding marked used; the ids of those links.

    The customer's row is written first, so two password changes of one customer wait for each
    other there (on PostgreSQL too) before either touches the reset links.
    """
    now = utcnow()
    db.session.execute(
        update(Customer)
        .where(Customer.id == customer_id, Customer.tenant == slug)
        .values(
            password_hash=password_hash,
            session_token=secrets.token_hex(16),
            failed_logins=0,
            locked_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    revoked = db.session.scalars(
        update(PasswordReset)
        .where(
            PasswordReset.tenant == slug,
            PasswordReset.customer_id == customer_id,
            PasswordReset.used_at.is_(None),
        )
        .values(used_at=now)
        .returning(PasswordReset.id)
        .execution_options(synchronize_session=False)
    )
    return list(revoked)


def set_password(customer: Customer, new_password: str) -> None:
    """Change a customer's password: older sessions and every outstanding reset link end."""
    password_hash = hash_password(new_password)
    with write_unit():
        _store_password(customer.tenant, customer.id, password_hash)
    db.session.refresh(customer)


def use_reset(tenant: Tenant, token: str, new_password: str) -> Customer | None:
    """Set the password with a single-use token; None if the token is invalid, used, revoked or
    expired. Every other outstanding link of the customer stops working too."""
    password_hash = hash_password(new_password)
    reset = valid_reset(tenant, token)
    if reset is None:
        return None
    reset_id, customer_id = reset.id, reset.customer_id
    try:
        with write_unit():
            if reset_id not in _store_password(tenant.slug, customer_id, password_hash):
                raise _ResetTaken  # used or revoked since valid_reset: nothing is changed
    except _ResetTaken:
        return None
    return get_customer(tenant.slug, customer_id)


def ensure_demo_customer() -> str:
    from gaspay.demo import DEMO_CUSTOMER as D

    customer = find_customer(D["tenant"], D["email"])
    if customer is None:
        customer = create_customer(D["tenant"], D["email"], D["password"], D["full_name"])
    for number in D["clients"]:
        link_client(customer, number)
    return f"cliente demo: {customer.email} ({', '.join(customer.client_numbers)})"
