"""Wompi answers and events as the documentation shapes them, for `responses` and webhooks."""

from __future__ import annotations

import hashlib
import json
import time

API = "http://sandbox.test/sandbox/wompi/v1"  # the test config's sandbox base URL


def transaction(
    txn_id="1234-1700000000-00001",
    status="PENDING",
    reference="GPX",
    amount=1_800_000,
    currency="COP",
    url=None,
    cus=None,
    method="PSE",
):
    extra = {}
    if url:
        extra["async_payment_url"] = url
    if cus:
        extra["traceability_code"] = cus
    return {
        "id": txn_id,
        "created_at": "2026-11-22T15:00:00.000Z",
        "finalized_at": None if status == "PENDING" else "2026-11-22T15:05:00.000Z",
        "amount_in_cents": amount,
        "reference": reference,
        "currency": currency,
        "customer_email": "usuario.demo@correo.test",
        "payment_method_type": method,
        "payment_method": {"type": method, "extra": extra},
        "status": status,
        "status_message": None,
        "redirect_url": "http://localhost/insesp/pagos/" + reference,
    }


def merchant(public_key):
    return {
        "data": {
            "id": 1,
            "public_key": public_key,
            "presigned_acceptance": {
                "acceptance_token": "tok-accept",
                "permalink": "http://sandbox.test/terminos.pdf",
                "type": "END_USER_POLICY",
            },
            "presigned_personal_data_auth": {
                "acceptance_token": "tok-personal",
                "permalink": "http://sandbox.test/datos.pdf",
                "type": "PERSONAL_DATA_AUTH",
            },
        },
        "meta": {},
    }


BANKS = {
    "data": [
        {"financial_institution_code": "0", "financial_institution_name": "A continuación..."},
        {"financial_institution_code": "1007", "financial_institution_name": "BANCOLOMBIA"},
        {"financial_institution_code": "1051", "financial_institution_name": "DAVIVIENDA"},
    ],
    "meta": {},
}


def event(txn: dict, secret: str, *, timestamp=None, properties=None) -> tuple[bytes, dict]:
    """A signed `transaction.updated` event body and its headers (computed independently)."""
    timestamp = timestamp or int(time.time())
    properties = properties or [
        "transaction.id",
        "transaction.status",
        "transaction.amount_in_cents",
    ]
    data = {"transaction": txn}
    values = []
    for prop in properties:
        node = data
        for part in prop.split("."):
            node = node[part]
        values.append(str(node))
    checksum = hashlib.sha256(("".join(values) + str(timestamp) + secret).encode()).hexdigest()
    body = {
        "event": "transaction.updated",
        "data": data,
        "environment": "test",
        "signature": {"properties": properties, "checksum": checksum},
        "timestamp": timestamp,
        "sent_at": "2026-11-22T15:05:01.000Z",
    }
    return json.dumps(body).encode(), {
        "Content-Type": "application/json",
        "X-Event-Checksum": checksum,
    }
