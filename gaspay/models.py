"""Imports every model so that metadata (and Alembic) sees all tables."""

from gaspay.accounts.models import Customer, CustomerClient, PasswordReset
from gaspay.billing.models import Bill, BillImport
from gaspay.outbox.models import DisabledEndpoint, OutboxDelivery, OutboxMessage
from gaspay.payments.models import (
    AttemptBill,
    AttemptTransition,
    BillHold,
    GatewayCache,
    GatewayEvent,
    PaymentAttempt,
    PaymentReview,
)
from gaspay.staff.models import StaffAudit, StaffNote, StaffUser

__all__ = [
    "AttemptBill",
    "AttemptTransition",
    "Bill",
    "BillHold",
    "BillImport",
    "Customer",
    "CustomerClient",
    "DisabledEndpoint",
    "GatewayCache",
    "GatewayEvent",
    "OutboxDelivery",
    "OutboxMessage",
    "PasswordReset",
    "PaymentAttempt",
    "PaymentReview",
    "StaffAudit",
    "StaffNote",
    "StaffUser",
]
