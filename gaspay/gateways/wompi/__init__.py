"""Wompi (Colombia) HTTP client: acceptance tokens, PSE banks, PSE transactions, events.

A pure client: it imports nothing from Flask or the rest of gaspay, takes plain values and
returns plain values or frozen dataclasses. Facts come from ``docs/wompi.md`` (field names, URLs,
formulas); where public sources disagree or say nothing, the choice is a named constant here so
it can change in one place.

Error model (reliability promises 4 and 5):

* ``GatewayUnavailable``: the outcome is UNKNOWN. Timeouts, connection errors, 5xx, 409, an
  answer that is not the JSON we expect, or a definite-looking 4xx that follows an earlier failed
  try of the same POST (the first try may have created the transaction). The caller must leave
  the attempt pending and let reconciliation resolve it; never mark it failed or paid.
* ``GatewayRejected``: the gateway definitely refused the request (4xx other than 409).
  ``NotFound`` is its 404.

Retries happen only on network errors, 409 and 5xx, with exponential backoff and jitter, at most
``retries`` extra tries. A retried POST sends the very same body (same reference), so the gateway
refuses a duplicate instead of charging twice.

Secrets (private key, integrity secret, events secret) never appear in logs or exception
messages; request bodies (personal data) are never logged either.
"""

from __future__ import annotations

from gaspay.gateways.wompi.client import (
    PLACEHOLDER_BANK_CODES,
    PSE_DESCRIPTION_MAX,
    WompiClient,
    pse_description,
    sanitize_reference,
    sanitize_text,
)
from gaspay.gateways.wompi.errors import GatewayError, GatewayRejected, GatewayUnavailable, NotFound
from gaspay.gateways.wompi.signatures import event_checksum, integrity_signature, verify_event
from gaspay.gateways.wompi.values import (
    BANK_NAME_KEYS,
    CUS_KEYS,
    FINAL_STATUSES,
    Acceptance,
    Bank,
    Transaction,
)

__all__ = [
    "BANK_NAME_KEYS",
    "CUS_KEYS",
    "FINAL_STATUSES",
    "PLACEHOLDER_BANK_CODES",
    "PSE_DESCRIPTION_MAX",
    "Acceptance",
    "Bank",
    "GatewayError",
    "GatewayRejected",
    "GatewayUnavailable",
    "NotFound",
    "Transaction",
    "WompiClient",
    "event_checksum",
    "integrity_signature",
    "pse_description",
    "sanitize_reference",
    "sanitize_text",
    "verify_event",
]
