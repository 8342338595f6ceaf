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
