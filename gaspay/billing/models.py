"""Bills: what a utility says a client owes, in integer cents with an explicit currency."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gaspay.extensions import db
from gaspay.timeutil import utcnow

UNPAID = "unpaid"
PAID = "paid"


class Bill(db.Model):
    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("tenant", "bill_number", name="uq_bills_tenant_bill_number"),
        Index("ix_bills_tenant_client", "tenant", "client_number"),
        Index("ix_bills_tenant_reference", "tenant", "payment_reference"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("vat_cents >= 0 AND vat_cents <= amount_cents", name="vat_in_range"),
        CheckConstraint("state IN ('unpaid', 'paid')", name="state_known"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    # Normalised: no spaces, no leading zeros (0021053 -> 21053); as printed in client_display.
    client_number: Mapped[str] = mapped_column(String(40))
    client_display: Mapped[str] = mapped_column(String(40))
    payment_reference: Mapped[str | None] = mapped_column(String(48))
    bill_number: Mapped[str] = mapped_column(String(40))
    concept: Mapped[str] = mapped_column(String(120))
    holder_first_name: Mapped[str] = mapped_column(String(80))
    holder_last_name: Mapped[str] = mapped_column(String(80), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(30))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    vat_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="COP")
    period: Mapped[str | None] = mapped_column(String(20))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(10), default=UNPAID)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    @property
    def holder_name(self) -> str:
        return f"{self.holder_first_name} {self.holder_last_name}".strip()

    @property
    def is_paid(self) -> bool:
        return self.state == PAID

    def is_overdue(self, today: dt.date) -> bool:
        return self.due_on < today
