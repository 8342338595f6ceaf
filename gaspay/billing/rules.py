"""The one rule that decides whether a bill can be paid now.

A bill can be paid now when it is unpaid, no live or approved payment holds it, and — where the
company refuses overdue bills — it is not past its due date in Colombia today. Every place that
offers a pay button (lookup, notices, retry, the PSE step) asks this rule, and
``payments.services.open_attempt`` enforces it inside the transaction that takes the holds, so a
token handed out before midnight does not pay an overdue bill after it.
"""

from __future__ import annotations

import datetime as dt

from gaspay.billing.models import UNPAID, Bill
from gaspay.formatting import money
from gaspay.tenancy.config import Tenant

PAID = "paid"
HELD = "held"
OVERDUE = "overdue"


def why_not_payable(tenant: Tenant, bill: Bill, *, held: bool, today: dt.date) -> str | None:
    """None when the bill can be paid now; else the reason: PAID, HELD or OVERDUE."""
    if bill.state != UNPAID:
        return PAID
    if held:
        return HELD
    if bill.is_overdue(today) and not tenant.pay_overdue:
        return OVERDUE
    return None


def older_left_unpaid(selected: list[Bill], payable: list[Bill]) -> list[Bill]:
    """The payable bills due before the newest selected one that the selection leaves out."""
    if not selected:
        return []
    chosen = {b.id for b in selected}
    newest = max(b.due_on for b in selected)
    return sorted(
        (b for b in payable if b.id not in chosen and b.due_on < newest),
        key=lambda b: (b.due_on, b.id),
    )


def partial_problem(
    tenant: Tenant, bill: Bill, applied_cents: int, balance_cents: int, *, today: dt.date
) -> str | None:
    """Why this amount cannot be applied to the bill now (in the payer's words), or None.

    The whole balance is always accepted; less only where the company takes partial payments
    ("abono") for this kind of bill, at least its minimum.
    """
    if applied_cents == balance_cents:
        return None
    if applied_cents > balance_cents:
        return "El valor a abonar no puede ser mayor que el saldo pendiente de la factura."
    if applied_cents <= 0:
        return "Escriba un valor a abonar mayor que cero."
    partial = tenant.partial
    if partial is None or not partial.accepts(bill.is_overdue(today)):
        return "Esta factura solo se puede pagar por el total de su saldo."
    if applied_cents < partial.minimum_cents:
        return f"El valor mínimo para abonar es {money(partial.minimum_cents, bill.currency)}."
    return None


def accepts_partial(tenant: Tenant, bill: Bill, today: dt.date) -> bool:
    return tenant.partial is not None and tenant.partial.accepts(bill.is_overdue(today))
