"""`POST /<slug>/webhooks/<provider>`: gateway notifications, the only CSRF-exempt POSTs.

Each body is size-limited, then verified by the provider's adapter before anything is read
from it or changed; ``payments.inbox`` stores it in one short write (a copy is a "duplicate")
and the worker applies it with ``payments.events`` (a hint is queried first).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from gaspay.extensions import csrf
from gaspay.payments.gateway import InvalidNotification, adapter_for
from gaspay.payments.inbox import receive

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
    return {"status": "ok", "outcome": receive(tenant, provider, notice)}, 200


@bp.post("/webhooks/wompi", endpoint="wompi")
@csrf.exempt
def wompi_event():
    return _receive("wompi", g.tenant.wompi)


@bp.post("/webhooks/placetopay", endpoint="placetopay")
@csrf.exempt
def placetopay_event():
    return _receive("placetopay", g.tenant.placetopay)
