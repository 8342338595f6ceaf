"""Finding a tenant's bills; every query here is scoped by the tenant it is given."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import String, and_, bindparam, func, or_, select

from gaspay.billing import rules
from gaspay.billing.models import Bill
from gaspay.billing.numbers import normalise_number
from gaspay.billing.rules import why_not_payable
from gaspay.extensions import db
from gaspay.payments.models import AttemptBill, BillHold, PaymentAttempt
from gaspay.payments.transitions import APPROVED
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import today_in_bogota

MAX_BILLS_SHOWN = 24


@dataclass
class Lookup:
    number: str
    today: dt.date
    payable: list[Bill] = field(default_factory=list)
    overdue: list[Bill] = field(default_factory=list)
    paid: list[Bill] = field(default_factory=list)
    held_by: dict[int, int] = field(default_factory=dict)  # bill id -> the attempt holding it
    applied: dict[int, int] = field(default_factory=dict)  # bill id -> approved cents applied
    complete: bool = False  # every bill of the client number is here (none cut, none by reference)

    @property
    def found(self) -> bool:
        return bool(self.payable or self.overdue or self.paid)

    @property
    def bills(self) -> list[Bill]:
        return self.payable + self.overdue + self.paid


def bills_query(tenant: Tenant):
    """The only way into bills: through the tenant."""
    return select(Bill).where(Bill.tenant == tenant.slug)


def get_bill(tenant: Tenant, bill_id: int) -> Bill | None:
    return db.session.scalars(bills_query(tenant).where(Bill.id == bill_id)).first()


def lookup_statement(slug: str, number: str):
    """The lookup's one query for one number (``lookup_bills`` runs the same, cached, statement):
    the bills of a client number or payment reference, the most urgent unpaid first, each with
    the attempt holding it (or NULL) and the cents approved attempts applied to it (its balance
    is derived). The holds check rides on this read."""
    return _lookup_select(slug).params(number=number)


def held_by_column(slug: str):
    """Per bill row: the attempt holding the bill, or NULL (a correlated read of bill_holds by
    its primary key), so that a page's holds check rides on the query that reads its bills."""
    return (
        select(BillHold.attempt_id)
        .where(BillHold.bill_id == Bill.id, BillHold.tenant == slug)
        .scalar_subquery()
        .label("held_by")
    )


def applied_column():
    """Per bill row: the cents approved attempts applied to it (its balance is derived)."""
    return (
        select(func.coalesce(func.sum(AttemptBill.amount_cents), 0))
        .join(PaymentAttempt, PaymentAttempt.id == AttemptBill.attempt_id)
        .where(AttemptBill.bill_id == Bill.id, PaymentAttempt.status == APPROVED)
        .scalar_subquery()
        .label("applied")
    )


@functools.cache
def _lookup_select(slug: str):
    """Built once per tenant (building a select costs more than running it); the number is a
    bound parameter."""
    number = bindparam("number", type_=String)
    # The tenant sits inside each branch so that SQLite, too, uses both indexes
    # (tenant, client_number) and (tenant, payment_reference) instead of scanning the tenant.
    return (
        select(Bill, held_by_column(slug), applied_column())
        .where(
            or_(
                and_(Bill.tenant == slug, Bill.client_number == number),
                and_(Bill.tenant == slug, Bill.payment_reference == number),
            )
        )
        .order_by(Bill.state.desc(), Bill.due_on, Bill.id)
        .limit(MAX_BILLS_SHOWN)
    )


def lookup_bills(tenant: Tenant, raw_number: str) -> Lookup:
    """All bills of a client number or payment reference, the most urgent unpaid first, with
    their holds and approved amounts (one query).

    Raises InvalidNumber when the text cannot be a number at all.
    """
    number = normalise_number(raw_number)
    rows = db.session.execute(_lookup_select(tenant.slug), {"number": number}).all()
    today = today_in_bogota()
    result = Lookup(number=number, today=today)
    result.complete = len(rows) < MAX_BILLS_SHOWN and all(
        bill.client_number == number for bill, _, _ in rows
    )
    for bill, held_by, applied in rows:
        if held_by is not None:
            result.held_by[bill.id] = held_by
        result.applied[bill.id] = int(applied or 0)
        reason = why_not_payable(tenant, bill, held=False, today=today)
        if reason == rules.PAID:
            result.paid.append(bill)
        elif reason == rules.OVERDUE:
            result.overdue.append(bill)
        else:
            result.payable.append(bill)
    return result


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="gaspay.bill")


def bill_token(tenant: Tenant, bill: Bill) -> str:
    """An expiring capability to pay one bill, handed out by the lookup.

    Later steps take this token rather than a bare id, so bills cannot be walked by id.
    """
    return _serializer().dumps([tenant.slug, bill.id])


def bill_from_token(tenant: Tenant, token: str | None) -> Bill | None:
    if not token:
        return None
    try:
        slug, bill_id = _serializer().loads(
            token, max_age=current_app.config["BILL_TOKEN_MAX_AGE_SECONDS"]
        )
    except (BadSignature, ValueError, TypeError):
        return None
    if slug != tenant.slug:
        return None
    return get_bill(tenant, int(bill_id))


MAX_SELECTED = 12


def bills_from_tokens(
    tenant: Tenant, tokens: list[str], limit: int = MAX_SELECTED
) -> list[Bill] | None:
    """The bills of a selection (each by its own token), oldest due first; None if any is bad."""
    unique = list(dict.fromkeys(t for t in tokens if t))
    if not unique or len(unique) > limit:
        return None
    bills = [bill_from_token(tenant, t) for t in unique]
    if any(b is None for b in bills):
        return None
    return sorted(bills, key=lambda b: (b.due_on, b.id))
