"""The neutral gateway interface: what ``payments/`` asks of any gateway, and the one registry.

``payments/`` speaks only these values and this protocol. Each gateway's adapter lives in its
own package (``gateways/<name>/adapter.py``) and is registered at the composition root
(``gaspay.gateways.registry_setup``); nothing here imports a gateway package.

Every call goes through the door (``adapter_for``): it asserts that no database write is
pending in the session, ends any read-only transaction (no transaction is ever held across a
gateway call), and checks the bank or checkout address the gateway gave.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from gaspay.extensions import db

# --------------------------------------------------------------------------- errors


class GatewayError(Exception):
    """Base of every gateway error, whatever the provider."""


class GatewayUnavailable(GatewayError):
    """No definite answer: timeout, network, 5xx, an unreadable answer. Ask again later."""

    def __init__(self, message: str = "", *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class GatewayRejected(GatewayError):
    """A definite refusal; ``messages`` names the refused fields where the gateway says so."""

    def __init__(
        self,
        message: str = "",
        *,
        status_code: int | None = None,
        reason: str | None = None,
        messages: dict | None = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.reason = reason
        self.messages = messages if messages is not None else {}


class InvalidNotification(GatewayError, ValueError):
    """A notification that is malformed or whose signature does not verify: 4xx, ignored."""


class TransactionOpen(AssertionError):
    """A gateway was called with a database write still uncommitted in the session."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class GatewayAnswer:
    """What a gateway said about one transaction, in the terms the portal needs."""

    txn_id: str
    status: str  # a transition-table input: PENDING, APPROVED, DECLINED, ERROR, VOIDED (or not)
    reference: str
    amount_cents: int
    currency: str
    cus: str | None = None
    bank_name: str | None = None
    payment_method: str | None = None
    message: str | None = None
    bank_url: str | None = None  # where the payer goes (bank or gateway page), while pending


@dataclass(frozen=True)
class Terms:
    """The documents the payer must accept, and the tokens that prove it (fresh per attempt)."""

    acceptance_token: str
    permalink: str
    personal_data_token: str
    personal_data_permalink: str


@dataclass(frozen=True)
class PseOrder:
    reference: str
    amount_cents: int
    currency: str
    email: str
    full_name: str
    phone: str
    person_type: int
    document_type: str
    document_number: str
    bank_code: str
    description: str
    redirect_url: str
    payer_ip: str | None
    user_agent: str | None = None


@dataclass(frozen=True)
class CheckoutOrder:
    """An attempt about to be handed to the gateway's hosted checkout."""

    reference: str
    amount_cents: int
    currency: str
    vat_cents: int
    expires_at: Any  # aware datetime
    redirect_url: str
    email: str
    full_name: str
    phone: str | None = None


@dataclass(frozen=True)
class HostedCheckout:
    action: str
    method: str  # "get" for Wompi (it refuses a POSTed checkout form)
    fields: tuple[tuple[str, str], ...]
    expires_at: Any

    def field(self, name: str) -> str | None:
        return dict(self.fields).get(name)


@dataclass(frozen=True)
class Notice:
    """A verified notification: a hint about one transaction, to be confirmed by a query."""

    key: str  # stable per delivery (idempotency)
    txn_id: str
    reference: str
    status: str | None
    answer: GatewayAnswer | None = None  # set when the gateway signs the whole answer (Wompi)
    payload: dict | None = None


class Gateway(Protocol):
    """What one provider offers for one tenant. Plain values in and out."""

    name: str

    def banks(self) -> list[tuple[str, str]]: ...
    def terms(self) -> Terms: ...
    def create(self, order: PseOrder, terms: Terms) -> GatewayAnswer: ...
    def wait_for_bank_url(self, txn_id: str) -> GatewayAnswer: ...
    def status(self, txn_id: str) -> GatewayAnswer: ...
    def find(self, reference: str) -> list[GatewayAnswer]: ...
    def read_notification(self, body: bytes, headers: Mapping[str, str]) -> Notice: ...
    def checkout(self, order: CheckoutOrder) -> HostedCheckout: ...


# --------------------------------------------------------------------------- registry

Factory = Callable[[Any, Mapping[str, Any]], Gateway]  # (tenant, app config) -> adapter
REGISTRY = "gaspay.gateways"  # app.extensions key: provider name -> adapter factory


def register(app, name: str, factory: Factory) -> None:
    """Called at the composition root (``create_app``), once per provider and app."""
    app.extensions.setdefault(REGISTRY, {})[name] = factory


def registered() -> list[str]:
    return sorted(current_app.extensions.get(REGISTRY, {}))


def provider_for(tenant, gateway: str) -> str:
    """Who serves this way to pay for the tenant now (a new attempt stores it)."""
    return tenant.provider_of(gateway) or "wompi"


def adapter_for(tenant, provider: str | None) -> Gateway:
    """The door to ``provider``'s adapter for ``tenant``: every call outside a transaction."""
    name = provider or "wompi"
    try:
        factory = current_app.extensions[REGISTRY][name]
    except KeyError:
        raise LookupError(f"no gateway adapter registered for {name!r}") from None
    return Door(factory(tenant, current_app.config))


# --------------------------------------------------------------------------- the door

_WROTE = "gaspay_uncommitted_write"


@event.listens_for(Session, "after_flush")
def _mark_write(session, _flush_context):
    session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _clear_write(session, *_args):
    session.info.pop(_WROTE, None)


def outside_transaction() -> None:
    """Promise 2: no database transaction is held across a gateway call.

    A pending or flushed-but-uncommitted write is a bug in the caller (it would hold the lock
    for the length of an HTTP call, or be lost): TransactionOpen. A read-only transaction is
    ended here (a read of an expired attribute quietly opens one).
    """
    session = db.session()
    if session.new or session.dirty or session.deleted or session.info.get(_WROTE):
        raise TransactionOpen("a gateway was called with a database write uncommitted")
    if session.in_transaction():
        session.rollback()


def safe_bank_url(url: str | None) -> str | None:
    """An address the payer may be sent to: ``https://`` only in production."""
    if not url:
        return None
    if url.startswith("https://") or not current_app.config.get("PRODUCTION"):
        return url
    current_app.logger.warning("bank URL refused (not https): %.60s", url)
    return None


def _checked(value):
    if isinstance(value, GatewayAnswer) and value.bank_url:
        return dataclasses.replace(value, bank_url=safe_bank_url(value.bank_url))
    if isinstance(value, list):
        return [_checked(v) for v in value]
    return value


class Door:
    """Wraps an adapter: each method call first asserts the session holds no transaction."""

    def __init__(self, adapter: Gateway):
        self._adapter = adapter
        self.name = getattr(adapter, "name", type(adapter).__name__)

    @property
    def adapter(self) -> Gateway:
        return self._adapter

    def __getattr__(self, attr: str):
        method = getattr(self._adapter, attr)
        if not callable(method) or attr in ("read_notification", "checkout"):
            return method  # pure: no HTTP call behind them

        def call(*args, **kwargs):
            outside_transaction()
            return _checked(method(*args, **kwargs))

        return call
