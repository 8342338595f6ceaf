"""A customer's billing notices ("Mis avisos de cobro") and payments ("Mis pagos").

A notice is one of the tenant's bills whose client number is linked to the customer. Every query
here filters by the tenant *and* by the customer's client numbers, so another customer's or
another tenant's bill is simply not found.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Integer, bindparam, select

from gaspay.accounts.models import Customer, CustomerClient
from gaspay.billing.models import UNPAID, Bill
from gaspay.billing.rules import why_not_payable
from gaspay.billing.services import held_by_column
from gaspay.extensions import db
from gaspay.payments.models import PaymentAttempt
from gaspay.payments.services import attempts_query, holding_attempts
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import today_in_bogota

PAID = "Pagado"
PENDING = "Pago pendiente"
NOT_PAID = "No Pagado"
STATE_CLASSES = {PAID: "approved", PENDING: "pending", NOT_PAID: "declined"}
ONLY_UNPAID = "no-pagado"  # the filter's value in the URL (?estado=no-pagado)
MAX_NOTICES = 120
MAX_PAYMENTS = 100


@dataclass(frozen=True)
class Notice:
    bill: Bill
    state: str  # in the payer's words: "Pagado", "Pago pendiente", "No Pagado"
    hold: PaymentAttempt | None  # the attempt holding the bill (live or approved)
    overdue: bool
    payable: bool  # "No Pagado" and allowed to be paid online now

    @property
    def state_class(self) -> str:
        return STATE_CLASSES[self.state]


def _notices(tenant: Tenant, rows) -> list[Notice]:
    """Notices from (bill, attempt id holding it) rows; the attempts are read only if any."""
    bills = [bill for bill, _ in rows]
    holds = holding_attempts(tenant, {bill.id: held for bill, held in rows if held is not None})
    today = today_in_bogota()
    result = []
    for bill in bills:
        hold = holds.get(bill.id)
        overdue = bill.state == UNPAID and bill.is_overdue(today)
        if bill.state != UNPAID:
            state = PAID
        elif hold is not None:
            state = PENDING
        else:
            state = NOT_PAID
        payable = why_not_payable(tenant, bill, held=hold is not None, today=today) is None
        result.append(Notice(bill, state, hold, overdue, payable))
    return result


@functools.cache
def _notices_select(slug: str):
    """A customer's notices in one tenant, built once per tenant (building it cost a tenth of
    the page's CPU): the customer is a bound parameter, their client numbers a subquery (the
    login check then reads the customer alone)."""
    linked = select(CustomerClient.client_number).where(
        CustomerClient.tenant == slug,
        CustomerClient.customer_id == bindparam("customer", type_=Integer),
    )
    return (
        select(Bill, held_by_column(slug))
        .where(Bill.tenant == slug, Bill.client_number.in_(linked))
        .order_by(Bill.due_on.desc(), Bill.id.desc())
        .limit(MAX_NOTICES)
    )


def _notice_rows(tenant: Tenant, customer: Customer, *where) -> list:
    """The only way into a customer's notices: (bill, attempt holding it) rows of this tenant
    whose client number is linked to the customer, newest first."""
    if customer.tenant != tenant.slug:
        return []  # defensive: never another tenant's
    statement = _notices_select(tenant.slug)
    statement = statement.where(*where) if where else statement
    return db.session.execute(statement, {"customer": customer.id}).all()


def customer_notices(tenant: Tenant, customer: Customer, *, only_unpaid: bool = False):
    """The customer's notices across their client numbers, newest first."""
    rows = _notice_rows(tenant, customer)
    notices = _notices(tenant, rows)
    if only_unpaid:
        notices = [n for n in notices if n.state == NOT_PAID]
    return notices


def get_notice(tenant: Tenant, customer: Customer, bill_id: int) -> Notice | None:
    rows = _notice_rows(tenant, customer, Bill.id == bill_id)
    return _notices(tenant, [tuple(rows[0])])[0] if rows else None


def customer_payments(tenant: Tenant, customer: Customer) -> list[PaymentAttempt]:
    """Every attempt the customer made in this tenant, newest first (retries included)."""
    if customer.tenant != tenant.slug:
        return []
    return list(
        db.session.scalars(
            attempts_query(tenant)
            .where(PaymentAttempt.customer_id == customer.id)
            .order_by(PaymentAttempt.created_at.desc(), PaymentAttempt.id.desc())
            .limit(MAX_PAYMENTS)
        )
    )
