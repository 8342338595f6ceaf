"""The PSE provider interface and its Wompi implementation.

Views and services speak to a ``PseProvider``; adding another PSE gateway (PlacetoPay, PayU…)
means another class here and a ``provider = "..."`` line in the tenant file, not new views.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flask import current_app
from sqlalchemy.exc import IntegrityError

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.gateways import wompi
from gaspay.payments.models import GatewayCache
from gaspay.payments.services import GatewayAnswer
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import as_utc, utcnow

GatewayUnavailable = wompi.GatewayUnavailable
GatewayRejected = wompi.GatewayRejected
GatewayError = wompi.GatewayError


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


class PseProvider(Protocol):
    def banks(self) -> list[tuple[str, str]]: ...
    def terms(self) -> Terms: ...
    def create(self, order: PseOrder, terms: Terms) -> GatewayAnswer: ...
    def wait_for_bank_url(self, txn_id: str) -> tuple[GatewayAnswer, str | None]: ...
    def status(self, txn_id: str) -> GatewayAnswer: ...
    def find(self, reference: str) -> list[GatewayAnswer]: ...


def to_answer(txn: wompi.Transaction) -> GatewayAnswer:
    return GatewayAnswer(
        txn_id=txn.id,
        status=txn.status,
        reference=txn.reference,
        amount_cents=txn.amount_in_cents,
        currency=txn.currency,
        cus=txn.cus,
        bank_name=txn.bank_name,
        payment_method=txn.payment_method_type,
        message=txn.status_message,
        bank_url=safe_bank_url(txn.async_payment_url),
    )


def safe_bank_url(url: str | None) -> str | None:
    """A bank URL the payer may be sent to: ``https://`` only in production.

    An address the gateway gives that is not https is treated as no address at all (the payer
    is shown the result page and the job keeps asking) and logged.
    """
    if not url:
        return None
    config = current_app.config
    if url.startswith("https://") or not config.get("PRODUCTION"):
        return url
    current_app.logger.warning("bank URL refused (not https): %.60s", url)
    return None


def wompi_client(tenant: Tenant) -> wompi.WompiClient:
    account = tenant.wompi
    config = current_app.config
    return wompi.WompiClient(
        api_url=account.api_url,
        public_key=account.public_key,
        private_key=account.private_key,
        integrity_secret=account.integrity_secret,
        timeout=config["GATEWAY_TIMEOUT_SECONDS"],
        retries=config["GATEWAY_RETRIES"],
    )


def _outside_transaction() -> None:
    """Reliability promise 2: no database transaction is ever held across a gateway call.

    Ending the session's transaction here, at the one door to the gateway, keeps every caller
    honest (a read of an expired attribute quietly opens a new transaction).
    """
    db.session.rollback()


class WompiPse:
    """PSE through Wompi's API (``POST /transactions`` with ``payment_method.type = PSE``).

    Every method ends the session's open transaction before the HTTP call.
    """

    def __init__(self, tenant: Tenant, client: wompi.WompiClient | None = None):
        self.tenant = tenant
        self.client = client or wompi_client(tenant)

    def banks(self) -> list[tuple[str, str]]:
        _outside_transaction()
        return [(b.code, b.name) for b in self.client.pse_banks()]

    def terms(self) -> Terms:
        _outside_transaction()
        a = self.client.merchant_acceptance()
        return Terms(
            a.acceptance_token, a.permalink, a.personal_data_token, a.personal_data_permalink
        )

    def create(self, order: PseOrder, terms: Terms) -> GatewayAnswer:
        _outside_transaction()
        txn = self.client.create_pse_transaction(
            reference=order.reference,
            amount_in_cents=order.amount_cents,
            currency=order.currency,
            customer_email=order.email,
            acceptance_token=terms.acceptance_token,
            accept_personal_auth=terms.personal_data_token,
            redirect_url=order.redirect_url,
            user_type=order.person_type,
            legal_id_type=order.document_type,
            legal_id=order.document_number,
            bank_code=order.bank_code,
            description=order.description,
            full_name=order.full_name,
            phone_number=order.phone,
            ip_address=order.payer_ip,
        )
        return to_answer(txn)

    def wait_for_bank_url(self, txn_id: str) -> tuple[GatewayAnswer, str | None]:
        config = current_app.config
        _outside_transaction()
        txn = self.client.wait_for_async_url(
            txn_id,
            timeout=config["ASYNC_URL_WAIT_SECONDS"],
            interval=config["ASYNC_URL_POLL_INTERVAL"],
        )
        answer = to_answer(txn)
        return answer, answer.bank_url

    def status(self, txn_id: str) -> GatewayAnswer:
        _outside_transaction()
        return to_answer(self.client.get_transaction(txn_id))

    def find(self, reference: str) -> list[GatewayAnswer]:
        _outside_transaction()
        return [to_answer(t) for t in self.client.find_transactions(reference)]


PROVIDERS = {"wompi": WompiPse}


def pse_provider(tenant: Tenant) -> PseProvider:
    return PROVIDERS["wompi"](tenant)


def _cached(key: str, ttl: float, fetch: Callable[[], list]) -> list:
    """A gateway list from the shared cache while fresh; else fetched and stored.

    When the gateway fails, the last good copy is returned however old; GatewayError is raised
    only when there is no copy at all. No database transaction is held across the fetch.
    """
    row = db.session.get(GatewayCache, key)
    if row is not None and (utcnow() - as_utc(row.fetched_at)).total_seconds() < ttl:
        return json.loads(row.value)
    stale = json.loads(row.value) if row is not None else None
    db.session.rollback()
    try:
        value = fetch()
        if not value:
            raise GatewayUnavailable("empty answer")
    except GatewayError:
        current_app.logger.warning("gateway list %s unavailable; last copy: %s", key, bool(stale))
        if stale:
            return stale
        raise
    try:
        with write_unit():
            cached = db.session.get(GatewayCache, key)
            if cached is None:
                db.session.add(GatewayCache(key=key, value=json.dumps(value), fetched_at=utcnow()))
            else:
                cached.value = json.dumps(value)
                cached.fetched_at = utcnow()
    except IntegrityError:
        pass  # another server stored the same fresh copy first
    return value


def cached_banks(tenant: Tenant, provider: PseProvider | None = None) -> list[tuple[str, str]]:
    """The PSE bank list, refreshed daily (never hard-coded: sandbox and live codes differ)."""
    banks = _cached(
        f"pse-banks:{tenant.slug}",
        current_app.config["BANK_LIST_TTL_SECONDS"],
        lambda: [list(b) for b in (provider or pse_provider(tenant)).banks()],
    )
    return [(code, name) for code, name in banks]


def cached_terms_links(tenant: Tenant, provider: PseProvider | None = None) -> tuple[str, str]:
    """The two documents the payer must read (the tokens themselves are fetched per attempt)."""
    links = _cached(
        f"terms-links:{tenant.slug}",
        3600,
        lambda: [
            (t := (provider or pse_provider(tenant)).terms()).permalink,
            t.personal_data_permalink,
        ],
    )
    return links[0], links[1]
