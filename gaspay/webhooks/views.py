"""`POST /<slug>/webhooks/wompi`: the only CSRF-exempt POST in the portal."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, g, request

from gaspay.extensions import csrf
from gaspay.gateways.wompi import event_checksum, verify_event
from gaspay.payments.events import apply_wompi_event

bp = Blueprint("webhooks", __name__)
MAX_EVENT_BYTES = 64 * 1024


def _json_object(text: str) -> dict | None:
    """The body as a JSON object, or None: not JSON, too deeply nested for the parser
    (RecursionError), a number too long to convert (ValueError), or JSON but not an object."""
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


@bp.post("/webhooks/wompi", endpoint="wompi")
@csrf.exempt
def wompi_event():
    tenant = g.tenant
    request.max_content_length = MAX_EVENT_BYTES  # a chunked body too: 413 past the limit
    if tenant.wompi is None or (request.content_length or 0) > MAX_EVENT_BYTES:
        return {"error": "rejected"}, 400
    event = _json_object(request.get_data(cache=False, as_text=True))
    if event is None:
        return {"error": "invalid event"}, 400
    secret = tenant.wompi.events_secret
    if not verify_event(event, secret, request.headers.get("X-Event-Checksum")):
        current_app.logger.warning("rejected Wompi event for %s: bad signature", tenant.slug)
        return {"error": "invalid signature"}, 401
    key = (event_checksum(event, secret) or "").lower()
    outcome = apply_wompi_event(tenant, event, key)
    return {"status": "ok", "outcome": outcome}, 200
