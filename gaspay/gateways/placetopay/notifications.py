"""A PlacetoPay notification body, verified first and only then parsed into a value.

``POST {notification url}`` with ``{"status": {...}, "requestId": 1234, "reference": "...",
"signature": "sha256:<hex>"}`` (docs/placetopay.md "Notification"). It is sent once when a
session reaches a final status and never retried, so answer 2xx quickly; it is a hint, not the
truth: query the session (``PlacetoPayClient.query_session``) before changing anything, and check
reference, amount and currency against our record. Recurring-payment notifications carry no
``requestId``; they fail here as malformed, which is right: they do not concern us.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gaspay.gateways.placetopay import statuses
from gaspay.gateways.placetopay.errors import GatewayUnavailable, InvalidNotification
from gaspay.gateways.placetopay.signatures import signature_algorithm, verify_notification
from gaspay.gateways.placetopay.values import Status, request_id_of

REFERENCE_MAX = 32


@dataclass(frozen=True)
class Notification:
    request_id: int
    reference: str
    status: Status
    signature: str
    algorithm: str  # "sha256" or "sha1" (legacy), as the signature said
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def gateway_input(self) -> str | None:
        """The session status mapped; only a hint until the query confirms it."""
        return statuses.session_input(self.status.status)

    @property
    def event_key(self) -> str:
        """A stable key for "this notification was seen": session, status and its date."""
        return f"placetopay:{self.request_id}:{self.status.status}:{self.status.date}"


def read_notification(
    body: Any, secret_key: str | None, *, accept_sha1: bool = True
) -> Notification:
    """The verified notification, or InvalidNotification (bad signature or malformed body).

    The signature is checked before any field is trusted or used; an empty secret rejects
    everything.
    """
    if not verify_notification(body, secret_key, accept_sha1=accept_sha1):
        raise InvalidNotification("PlacetoPay notification signature does not verify")
    request_id = request_id_of(body.get("requestId"))
    reference = body.get("reference")
    if request_id is None:
        raise InvalidNotification("PlacetoPay notification has no requestId")
    if not isinstance(reference, str) or not reference.strip() or len(reference) > REFERENCE_MAX:
        raise InvalidNotification("PlacetoPay notification has no usable reference")
    try:
        status = Status.from_api(body.get("status"))
    except GatewayUnavailable:
        raise InvalidNotification("PlacetoPay notification status is malformed") from None
    signature = body["signature"].strip().lower()
    return Notification(
        request_id=request_id,
        reference=reference.strip(),
        status=status,
        signature=signature,
        algorithm=signature_algorithm(signature, accept_sha1=accept_sha1) or "",
        raw=body,
    )
