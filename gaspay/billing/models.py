"""Bills: what a utility says a client owes, in integer cents with an explicit currency."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gaspay.extensions import db
from gaspay.timeutil import utcnow

UNPAID = "unpaid"
PAID = "paid"

# The life of one load of a bills file (BillImport.status).
IMPORT_VALIDATED = "validated"  # read and checked, nothing written; waiting for confirmation
IMPORT_QUEUED = "queued"  # confirmed; a worker will write it
IMPORT_RUNNING = "running"
IMPORT_DONE = "done"
IMPORT_FAILED = "failed"
IMPORT_STATUSES = (IMPORT_VALIDATED, IMPORT_QUEUED, IMPORT_RUNNING, IMPORT_DONE, IMPORT_FAILED)


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


class BillImport(db.Model):
    """One load of a bills file: who, when, which file, how far it got and what it found.

    Written by ``gaspay.billing.importer`` (CLI runs and the staff area's uploads alike). The
    counts are per line of the file: ``created + updated + unchanged + held + repeated + invalid
    == total_rows`` once ``done``. ``processed_rows`` moves with every committed batch (a progress
    bar reads it); after a failure the batches before it stay written, and running the same file
    again gives the same result. ``errors`` and ``notices`` hold JSON lists of the first lines
    found (``{"line", "field", "message"}`` / ``{"line", "bill_number", "message"}``), in Spanish.
    """

    __tablename__ = "bill_imports"
    __table_args__ = (
        Index("ix_bill_imports_tenant_created", "tenant", "created_at"),
        CheckConstraint(
            "status IN ('validated', 'queued', 'running', 'done', 'failed')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))  # as the user named it
    path: Mapped[str] = mapped_column(Text)  # where the stored file is read from
    file_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    file_sha256: Mapped[str | None] = mapped_column(String(64))  # the file that was validated
    created_by: Mapped[str | None] = mapped_column(String(254))  # staff e-mail, or "cli"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Last progress written (a run whose row stops moving for long is taken over, see importer).
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default=IMPORT_VALIDATED)
    skip_invalid: Mapped[bool] = mapped_column(Boolean, default=False)
    # False when the file itself cannot be read (not UTF-8, no header): never importable.
    readable: Mapped[bool] = mapped_column(Boolean, default=True)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)  # not changed: paying or paid
    repeated: Mapped[int] = mapped_column(Integer, default=0)  # a later line had the same bill
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    batches: Mapped[int] = mapped_column(Integer, default=0)  # committed so far
    errors: Mapped[str] = mapped_column(Text, default="[]")
    notices: Mapped[str] = mapped_column(Text, default="[]")
    message: Mapped[str | None] = mapped_column(Text)  # why it failed / was refused (Spanish)

    @property
    def error_list(self) -> list[dict]:
        return json.loads(self.errors or "[]")

    @property
    def notice_list(self) -> list[dict]:
        return json.loads(self.notices or "[]")

    @property
    def importable(self) -> bool:
        """May this validated file be written (every line good, or the bad ones to be skipped)?"""
        return self.readable and (self.invalid == 0 or self.skip_invalid)

    @property
    def progress(self) -> float:
        """0.0 … 1.0 for a progress bar."""
        if self.status == IMPORT_DONE:
            return 1.0
        return min(1.0, self.processed_rows / self.total_rows) if self.total_rows else 0.0
