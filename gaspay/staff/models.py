"""The company's staff: their accounts (their own table, scoped to one tenant), notes, audit log.

Also the indexes the staff area needs on the payment tables (the list, the search and the
exports must stay fast at a million payments); they are declared here, next to the queries
that use them, and created by migration 0006.
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
from sqlalchemy.orm import Mapped, mapped_column

from gaspay.extensions import db
from gaspay.payments.models import AttemptBill, GatewayEvent, PaymentAttempt
from gaspay.timeutil import utcnow

Timestamp = DateTime(timezone=True)

ADMIN = "admin"
OPERADOR = "operador"
CONSULTA = "consulta"
ROLES = (ADMIN, OPERADOR, CONSULTA)
ROLE_NAMES = {ADMIN: "Administrador", OPERADOR: "Operador", CONSULTA: "Consulta"}


class StaffUser(db.Model):
    __tablename__ = "staff_users"
    __table_args__ = (
        UniqueConstraint("tenant", "email", name="uq_staff_users_tenant_email"),
        CheckConstraint("role IN ('admin', 'operador', 'consulta')", name="role_known"),
        CheckConstraint("failed_logins >= 0", name="failed_logins_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(254))  # stored lower-cased
    full_name: Mapped[str] = mapped_column(String(160), default="")
    role: Mapped[str] = mapped_column(String(10))
    # Argon2id; None until the user follows the enrolment link and chooses one.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # The base32 TOTP secret once enrolled; the pending one while the QR code is on screen.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_pending: Mapped[str | None] = mapped_column(String(64))
    # The last 30-second step a code was accepted for: a code is never accepted twice.
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    # Changes on every login, logout, disable and second-factor reset: old cookies stop working.
    session_token: Mapped[str] = mapped_column(String(64))
    enrol_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrol_expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    previous_login_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class StaffAudit(db.Model):
    """Every staff action, append-only: nothing in the portal updates or deletes these rows."""

    __tablename__ = "staff_audit"
    __table_args__ = (Index("ix_staff_audit_tenant_id", "tenant", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    # Kept as text: the row must survive any change to the user it names.
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(120), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class StaffNote(db.Model):
    """What an operator wrote about a payment ("el cliente llamó…"); never changes money."""

    __tablename__ = "staff_notes"
    __table_args__ = (Index("ix_staff_notes_attempt", "attempt_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    attempt_id: Mapped[int] = mapped_column(ForeignKey("payment_attempts.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(254))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


# --- indexes on the payment tables for the staff area (migration 0006) -------------------------
_A = PaymentAttempt.__table__.c
# The list: newest first within a tenant, keyset on (created_at, id), with or without a status;
# every other filterable column rides along (migration 0007), so a page and the filter's totals
# are index-only scans whatever the filter: status, amount, method, gateway, bank.
Index(
    "ix_payment_attempts_tenant_created",
    _A.tenant,
    _A.created_at,
    _A.id,
    _A.status,
    _A.amount_cents,
    _A.payment_method,
    _A.gateway,
    _A.bank_name,
)
Index(
    "ix_payment_attempts_tenant_status_created",
    _A.tenant,
    _A.status,
    _A.created_at,
    _A.id,
    _A.amount_cents,
)
# The bank filter's choices: the tenant's distinct bank names, read by a loose index scan
# (migration 0008).
Index("ix_payment_attempts_tenant_bank", _A.tenant, _A.bank_name)
# Exports and the overview: approved money by approval time.
Index("ix_payment_attempts_tenant_status_final", _A.tenant, _A.status, _A.finalized_at)
# The search by CUS, payer document and payer e-mail (e-mails are searched lower-cased).
Index("ix_payment_attempts_tenant_cus", _A.tenant, _A.cus)
Index("ix_payment_attempts_tenant_document", _A.tenant, _A.document_number)
Index("ix_payment_attempts_tenant_email", _A.tenant, _A.payer_email)
# Search by client or bill number goes bill -> attempts.
Index("ix_attempt_bills_bill", AttemptBill.__table__.c.bill_id)
# The payment page's "events received".
_E = GatewayEvent.__table__.c
Index("ix_gateway_events_tenant_reference", _E.tenant, _E.reference)
Index("ix_gateway_events_tenant_txn", _E.tenant, _E.gateway_txn_id)
