"""PlacetoPay (Evertec) WebCheckout: authentication, sessions, queries, notifications.

A pure adapter like ``gaspay.gateways.wompi``: it imports nothing from Flask or the rest of
gaspay, takes plain values and returns plain values or frozen dataclasses. Facts come from
``docs/placetopay.md`` (field names, URLs, formulas); where the public sources disagree or say
nothing (marked UNCONFIRMED there), the choice is a named constant here so it can change in one
place.

The flow: ``create_session`` (the attempt is recorded PENDING with ``request_id`` and
``process_url`` before the payer is sent to ``process_url``), then ``query_session`` on the
payer's return, on every notification (``read_notification`` verifies it first) and
periodically while pending; ``SessionInfo.settle`` turns the answer into a transition-table
input (``statuses``) and the transaction that carries the receipt (CUS, bank, method).

Error model, as the Wompi client's: ``GatewayUnavailable`` = outcome unknown (leave the attempt
as it is, ask again later); ``GatewayRejected`` = a definite refusal (``NotFound`` its 404);
``InvalidNotification`` = a body to answer 4xx and ignore.
"""

from __future__ import annotations

from gaspay.gateways.placetopay import statuses
from gaspay.gateways.placetopay.auth import authentication, tran_key
from gaspay.gateways.placetopay.client import (
    DEFAULT_EXPIRATION,
    PAYMENT_METHODS,
    PlacetoPayClient,
    session_description,
    session_reference,
)
from gaspay.gateways.placetopay.errors import (
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    InvalidNotification,
    NotFound,
)
from gaspay.gateways.placetopay.notifications import Notification, read_notification
from gaspay.gateways.placetopay.signatures import notification_signature, verify_notification
from gaspay.gateways.placetopay.values import (
    DOCUMENT_TYPES,
    CreatedSession,
    Person,
    SessionInfo,
    Settlement,
    Status,
    Transaction,
    normalise_document_type,
    to_cents,
)

__all__ = [
    "DEFAULT_EXPIRATION",
    "DOCUMENT_TYPES",
    "PAYMENT_METHODS",
    "CreatedSession",
    "GatewayError",
    "GatewayRejected",
    "GatewayUnavailable",
    "InvalidNotification",
    "NotFound",
    "Notification",
    "Person",
    "PlacetoPayClient",
    "SessionInfo",
    "Settlement",
    "Status",
    "Transaction",
    "authentication",
    "normalise_document_type",
    "notification_signature",
    "read_notification",
    "session_description",
    "session_reference",
    "statuses",
    "to_cents",
    "tran_key",
    "verify_notification",
]
