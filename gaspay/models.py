"""Imports every model so that metadata (and Alembic) sees all tables."""

from gaspay.accounts.models import Customer, CustomerClient, PasswordReset
from gaspay.billing.models import Bill
from gaspay.payments.models import (
    AttemptBill,
    AttemptTransition,
    BillHold,
    GatewayCache,
    GatewayEvent,
    PaymentAttempt,
    PaymentReview,
)

__all__ = [
    "AttemptBill",
    "AttemptTransition",
    "Bill",
    "BillHold",
    "Customer",
    "CustomerClient",
    "GatewayCache",
    "GatewayEvent",
    "PasswordReset",
    "PaymentAttempt",
    "PaymentReview",
]
