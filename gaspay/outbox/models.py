"""The outbox's tables: messages, every attempt at delivering one, and endpoints turned off.

A message is written in the transaction of the change that causes it and is never deleted by
the worker: its deliveries are the record of what was tried, when, and what came back.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gaspay.extensions import db
from gaspay.timeutil import utcnow

Timestamp = DateTime(timezone=True)

PENDING = "pending"  # waiting for its next attempt (or in a worker's hands: lease_until)
DELIVERED = "delivered"
FAILED = "failed"  # the retry schedule ran out, or the other side refused it for good
DISABLED = "disabled"  # its webhook endpoint answered 410 Gone, or is no longer configured
STATUSES = (PENDING, DELIVERED, FAILED, DISABLED)
STATUS_WORDS = {
    PENDING: "pendiente",
    DELIVERED: "entregado",
    FAILED: "fallido",
    DISABLED: "desactivado",
}


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("uid", name="uq_outbox_messages_uid"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        Index("ix_outbox_messages_subject", "tenant", "subject_type", "subject_id"),
        Index("ix_outbox_messages_tenant_created", "tenant", "created_at"),
        CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'disabled')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The stable identity of every delivery of this message: e-mail Message-ID, webhook-id.
    uid: Mapped[str] = mapped_column(String(40))
    tenant: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))  # the handler: email, webhook, bill_import…
    topic: Mapped[str] = mapped_column(String(60), default="")  # payment.approved, receipt…
    destination: Mapped[str] = mapped_column(String(500), default="")  # address or endpoint URL
    # What the message is about, for staff pages (e.g. "payment_attempt", 42).
    subject_type: Mapped[str | None] = mapped_column(String(30))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)  # JSON, the handler's input
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # deliveries tried, in all
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row since (re)queued
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, default=utcnow)
    # A worker's claim: nobody else takes the message before this time (a killed worker's
    # messages are taken again once it passes).
    lease_until: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)

    deliveries: Mapped[list[OutboxDelivery]] = relationship(
        back_populates="message",
        cascade="all, delete-orphan",
        order_by="OutboxDelivery.id",
    )

    @property
    def status_word(self) -> str:
        return STATUS_WORDS.get(self.status, self.status)


class OutboxDelivery(db.Model):
    """One attempt at delivering a message: when, how long, what came back."""

    __tablename__ = "outbox_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE"), index=True
    )
    tenant: Mapped[str | None] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)  # 1 for the first attempt
    worker: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[int | None] = mapped_column(Integer)  # HTTP or SMTP reply code
    error: Mapped[str | None] = mapped_column(String(255))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)

    message: Mapped[OutboxMessage] = relationship(back_populates="deliveries")


class DisabledEndpoint(db.Model):
    """A webhook endpoint that answered 410 Gone: nothing more is sent to it until re-enabled."""

    __tablename__ = "outbox_disabled_endpoints"
    __table_args__ = (UniqueConstraint("tenant", "url", name="uq_outbox_disabled_endpoints_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(255))
    disabled_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
