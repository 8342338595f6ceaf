"""Payment attempts as explicit, append-audited state.

One row per gateway attempt, written before the payer leaves for the gateway. A reference is
ours and random; a checkout retry that makes a second gateway transaction under the same
reference gets a row of its own (``retry_of_id``), since records are keyed by transaction id.
The status only moves through ``transitions.decide`` and a compare-and-set in ``services``;
every move writes an ``AttemptTransition``. ``BillHold`` is the database's own guarantee of at
most one live attempt per bill: its primary key is the bill.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gaspay.billing.models import Bill
from gaspay.extensions import db
from gaspay.timeutil import utcnow

Timestamp = DateTime(timezone=True)


class PaymentAttempt(db.Model):
    __tablename__ = "payment_attempts"
    __table_args__ = (
        Index("ix_payment_attempts_tenant_reference", "tenant", "reference"),
        Index("ix_payment_attempts_tenant_txn", "tenant", "gateway_txn_id"),
        UniqueConstraint(
            "tenant", "gateway", "gateway_txn_id", name="uq_payment_attempts_gateway_txn"
        ),
        Index("ix_payment_attempts_due", "status", "next_check_at"),
        Index("ix_payment_attempts_tenant_customer", "tenant", "customer_id"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('created', 'pending', 'approved', 'declined', 'failed', 'voided',"
            " 'expired')",
            name="status_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(20))  # "pse" or "wompi" (tenant's gateway name)
    provider: Mapped[str] = mapped_column(String(20), default="wompi")
    gateway_txn_id: Mapped[str | None] = mapped_column(String(64))
    gateway_status: Mapped[str | None] = mapped_column(String(20))
    status_message: Mapped[str | None] = mapped_column(String(255))
    cus: Mapped[str | None] = mapped_column(String(64))
    payment_method: Mapped[str | None] = mapped_column(String(30))
    bank_code: Mapped[str | None] = mapped_column(String(10))
    bank_name: Mapped[str | None] = mapped_column(String(80))
    person_type: Mapped[int | None]
    document_type: Mapped[str | None] = mapped_column(String(5))
    document_number: Mapped[str | None] = mapped_column(String(20))
    payer_name: Mapped[str | None] = mapped_column(String(160))
    payer_email: Mapped[str | None] = mapped_column(String(254))
    payer_ip: Mapped[str | None] = mapped_column(String(45))
    description: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="COP")
    status: Mapped[str] = mapped_column(String(10), default="created")
    redirect_url: Mapped[str | None] = mapped_column(Text)
    review_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    redirected_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    finalized_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    next_check_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    checked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    checks: Mapped[int] = mapped_column(default=0)
    # A checkout retry under the same reference that produced another gateway transaction.
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("payment_attempts.id"))
    # Where the payer's e-mail came from: "payer" (typed) or "bill" (the holder's, never shown
    # unmasked to a guest).
    payer_email_source: Mapped[str] = mapped_column(String(10), default="payer")
    # When the gateway first answered PENDING-like for this attempt past the company's limit.
    stuck_flagged_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)

    bills: Mapped[list[AttemptBill]] = relationship(
        back_populates="attempt", cascade="all, delete-orphan"
    )

    @property
    def is_final(self) -> bool:
        from gaspay.payments.transitions import FINAL

        return self.status in FINAL


class GatewayCache(db.Model):
    """Last good copies of gateway lists (PSE banks), shared by every app server."""

    __tablename__ = "gateway_cache"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class AttemptBill(db.Model):
    """Which bills an attempt pays, and how much of each (several bills, or a partial payment)."""

    __tablename__ = "attempt_bills"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("payment_attempts.id", ondelete="CASCADE"), primary_key=True
    )
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), primary_key=True)
    # What this attempt applies to the bill: its balance, or less for a partial payment.
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    # The bill's own amount when the attempt was opened: an approval compares it with the bill.
    bill_amount_cents: Mapped[int | None] = mapped_column(BigInteger)

    attempt: Mapped[PaymentAttempt] = relationship(back_populates="bills")
    bill: Mapped[Bill] = relationship(lazy="joined")


class BillHold(db.Model):
    """At most one live (created, pending or approved) attempt per bill, by primary key."""

    __tablename__ = "bill_holds"

    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("payment_attempts.id", ondelete="CASCADE"))
    tenant: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class AttemptTransition(db.Model):
    """The audit trail: every status change, who caused it, and the gateway's word for it."""

    __tablename__ = "attempt_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("payment_attempts.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(10))  # payer, event, job, staff
    gateway_txn_id: Mapped[str | None] = mapped_column(String(64))
    gateway_status: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class GatewayEvent(db.Model):
    """Every authentic event received, once (the unique key makes deliveries idempotent)."""

    __tablename__ = "gateway_events"
    __table_args__ = (UniqueConstraint("tenant", "event_key", name="uq_gateway_events_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(64))
    gateway_txn_id: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(64))
    gateway_status: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class PaymentReview(db.Model):
    """One reason staff must look at a payment; open until an administrator resolves it.

    The system writes these (never pays or reverses anything by itself); a resolution records
    who decided what, and leaves the money state untouched.
    """

    __tablename__ = "payment_reviews"
    __table_args__ = (
        Index("ix_payment_reviews_tenant_open", "tenant", "resolved_at"),
        Index("ix_payment_reviews_attempt", "attempt_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    attempt_id: Mapped[int] = mapped_column(ForeignKey("payment_attempts.id", ondelete="CASCADE"))
    # mismatch, paid_twice, amount_changed, late_answer, unknown_status, stuck_pending,
    # create_mismatch, retry_conflict, overpaid
    kind: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    resolved_by: Mapped[str | None] = mapped_column(String(254))
    resolution: Mapped[str | None] = mapped_column(Text)
