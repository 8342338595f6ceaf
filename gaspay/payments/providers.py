"""Gateway lists kept in the shared cache (banks, terms links), and the PSE provider lookup.

The interface and the registry live in ``gaspay.payments.gateway``; this module keeps the names
older callers import (errors, ``safe_bank_url``, ``pse_provider``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import current_app
from sqlalchemy.exc import IntegrityError

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments.gateway import (
    Gateway,
    GatewayAnswer,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    PseOrder,
    Terms,
    adapter_for,
    outside_transaction,
    provider_for,
    safe_bank_url,
)
from gaspay.payments.models import GatewayCache
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import as_utc, utcnow

PseProvider = Gateway

__all__ = [
    "GatewayAnswer",
    "GatewayError",
    "GatewayRejected",
    "GatewayUnavailable",
    "PseOrder",
    "PseProvider",
    "Terms",
    "cached_banks",
    "cached_terms_links",
    "pse_provider",
    "safe_bank_url",
]


def pse_provider(tenant: Tenant) -> Gateway:
    """The adapter that serves the tenant's PSE step now (new attempts record its name)."""
    return adapter_for(tenant, provider_for(tenant, "pse"))


def _cached(key: str, ttl: float, fetch: Callable[[], list]) -> list:
    """A gateway list from the shared cache while fresh; else fetched and stored.

    When the gateway fails, the last good copy is returned however old; GatewayError is raised
    only when there is no copy at all. No database transaction is held across the fetch.
    """
    row = db.session.get(GatewayCache, key)
    if row is not None and (utcnow() - as_utc(row.fetched_at)).total_seconds() < ttl:
        return json.loads(row.value)
    stale = json.loads(row.value) if row is not None else None
    outside_transaction()
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


def _key(kind: str, tenant: Tenant, provider: Gateway | None) -> str:
    name = getattr(provider, "name", None) or provider_for(tenant, "pse")
    return f"{kind}:{tenant.slug}" if name == "wompi" else f"{kind}:{tenant.slug}:{name}"


def cached_banks(tenant: Tenant, provider: Gateway | None = None) -> list[tuple[str, str]]:
    """The PSE bank list, refreshed daily (never hard-coded: sandbox and live codes differ)."""
    banks = _cached(
        _key("pse-banks", tenant, provider),
        current_app.config["BANK_LIST_TTL_SECONDS"],
        lambda: [list(b) for b in (provider or pse_provider(tenant)).banks()],
    )
    return [(code, name) for code, name in banks]


def cached_terms_links(tenant: Tenant, provider: Gateway | None = None) -> tuple[str, str]:
    """The two documents the payer must read (the tokens themselves are fetched per attempt)."""
    links = _cached(
        _key("terms-links", tenant, provider),
        3600,
        lambda: [
            (t := (provider or pse_provider(tenant)).terms()).permalink,
            t.personal_data_permalink,
        ],
    )
    return links[0], links[1]
