"""Customers of tenants that offer accounts, linked to one or more of its client numbers."""

from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gaspay.extensions import db
from gaspay.timeutil import utcnow

Timestamp = DateTime(timezone=True)


class Customer(UserMixin, db.Model):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("tenant", "email", name="uq_customers_tenant_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(254))  # stored lower-cased
    full_name: Mapped[str] = mapped_column(String(160), default="")
    phone: Mapped[str | None] = mapped_column(String(30))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Changes on every login, logout and password change: old session cookies stop working.
    session_token: Mapped[str] = mapped_column(String(64))
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)

    clients: Mapped[list[CustomerClient]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )

    def get_id(self) -> str:
        return f"{self.tenant}:{self.id}:{self.session_token}"

    @property
    def client_numbers(self) -> list[str]:
        return [link.client_number for link in self.clients]


class CustomerClient(db.Model):
    __tablename__ = "customer_clients"
    __table_args__ = (
        UniqueConstraint("customer_id", "client_number", name="uq_customer_clients_pair"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    client_number: Mapped[str] = mapped_column(String(40))  # normalised like Bill.client_number

    customer: Mapped[Customer] = relationship(back_populates="clients")


class PasswordReset(db.Model):
    """A single-use, expiring reset link; only the token's hash is stored."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
