"""`POST /<slug>/webhooks/<provider>`: gateway notifications, the only CSRF-exempt POSTs.

Each body is size-limited, then verified by the provider's adapter before anything is read
from it or changed; ``payments.events`` then applies it (a hint is queried first).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from gaspay.extensions import csrf
from gaspay.payments.events import apply_notice
from gaspay.payments.gateway import InvalidNotification, adapter_for

bp = Blueprint("webhooks", __name__)
MAX_EVENT_BYTES = 64 * 1024


def _receive(provider: str, account):
    tenant = g.tenant
    request.max_content_length = MAX_EVENT_BYTES  # a chunked body too: 413 past the limit
    if account is None or (request.content_length or 0) > MAX_EVENT_BYTES:
        return {"error": "rejected"}, 400
    body = request.get_data(cache=False)
    door = adapter_for(tenant, provider)
    try:
        notice = door.read_notification(body, request.headers)
    except InvalidNotification as exc:
        signed = "signature" in str(exc)
        current_app.logger.warning("rejected %s event for %s: %s", provider, tenant.slug, exc)
        return (
            ({"error": "invalid signature"}, 401) if signed else ({"error": "invalid event"}, 400)
        )
    outcome = apply_notice(tenant, provider, notice)
    if outcome == "unavailable":
        return {"status": "retry", "outcome": outcome}, 503
    return {"status": "ok", "outcome": outcome}, 200


@bp.post("/webhooks/wompi", endpoint="wompi")
@csrf.exempt
def wompi_event():
    return _receive("wompi", g.tenant.wompi)


@bp.post("/webhooks/placetopay", endpoint="placetopay")
@csrf.exempt
def placetopay_event():
    return _receive("placetopay", g.tenant.placetopay)
