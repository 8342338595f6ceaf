"""Hosted checkout: the signed browser form that takes a payer to the gateway's own pages.

The form is built by the attempt's provider's adapter (``gateway.adapter_for``). For Wompi
this is the Web Checkout (docs/wompi.md): a GET form to ``checkout_url`` with
``public-key``, ``currency``, ``amount-in-cents``, ``reference``, ``signature:integrity``,
``expiration-time``, ``redirect-url`` and the customer's data. Everything comes from the
attempt recorded before the payer leaves; the integrity secret only ever signs on the server.

The expiry is derived from the attempt's creation time, so showing the form again for the same
attempt gives the very same fields and signature.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gaspay.payments import transitions as T
from gaspay.payments.gateway import CheckoutOrder, HostedCheckout, adapter_for
from gaspay.payments.models import PaymentAttempt
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import as_utc, utcnow

__all__ = ["HostedCheckout", "Payer", "hosted_checkout", "payment_methods", "resumable"]
CHECKOUT_MINUTES = 30
# Gateways a customer can choose as "método de pago", with the words the payer reads.
METHODS = {"wompi": "Wompi: tarjeta débito o crédito, PSE, Nequi y otros medios"}


@dataclass(frozen=True)
class Payer:
    email: str
    full_name: str
    phone: str | None = None


def payment_methods(tenant: Tenant) -> list[tuple[str, str]]:
    """The tenant's configured gateways that have a hosted checkout, as form choices."""
    return [(name, METHODS[name]) for name in tenant.gateways if name in METHODS]


def expires_at(attempt: PaymentAttempt) -> dt.datetime:
    return as_utc(attempt.created_at) + dt.timedelta(minutes=CHECKOUT_MINUTES)


def iso_utc(moment: dt.datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, as Wompi writes it: `2026-11-22T20:28:50.000Z`."""
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def resumable(attempt: PaymentAttempt, customer) -> bool:
    """May this customer be sent to the hosted checkout for this attempt (again)?

    Only while nothing has happened at the gateway yet as far as we know: recorded, no
    transaction, this customer's own, and the checkout has not expired.
    """
    return (
        attempt.gateway in METHODS
        and attempt.status == T.CREATED
        and attempt.gateway_txn_id is None
        and attempt.retry_of_id is None
        and getattr(customer, "is_authenticated", False)
        and attempt.customer_id == customer.id
        and utcnow() < expires_at(attempt)
    )


def _vat_cents(attempt: PaymentAttempt) -> int:
    """The VAT inside the amount, when every bill is paid in full (informative for Wompi)."""
    total = 0
    for link in attempt.bills:
        if link.amount_cents != link.bill.amount_cents:
            return 0
        total += link.bill.vat_cents or 0
    return total


def checkout_order(attempt: PaymentAttempt, *, redirect_url: str, payer: Payer) -> CheckoutOrder:
    return CheckoutOrder(
        reference=attempt.reference,
        amount_cents=int(attempt.amount_cents),
        currency=attempt.currency,
        vat_cents=_vat_cents(attempt),
        expires_at=expires_at(attempt),
        redirect_url=redirect_url,
        email=payer.email,
        full_name=payer.full_name,
        phone=payer.phone,
    )


def wompi_checkout(
    tenant: Tenant, attempt: PaymentAttempt, *, redirect_url: str, payer: Payer
) -> HostedCheckout:
    order = checkout_order(attempt, redirect_url=redirect_url, payer=payer)
    return adapter_for(tenant, "wompi").checkout(order)


def hosted_checkout(
    tenant: Tenant, attempt: PaymentAttempt, *, redirect_url: str, payer: Payer
) -> HostedCheckout:
    """The form for the attempt's gateway, built by the provider that created the attempt."""
    order = checkout_order(attempt, redirect_url=redirect_url, payer=payer)
    return adapter_for(tenant, attempt.provider).checkout(order)
