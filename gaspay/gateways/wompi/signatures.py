"""Integrity signatures (checkout, transactions) and event checksums, as documented."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from gaspay.gateways.wompi.values import _as_text

# --------------------------------------------------------------------------- signatures


def integrity_signature(
    reference: str,
    amount_in_cents: int,
    currency: str,
    secret: str,
    expiration_time: str | None = None,
) -> str:
    """``sha256_hex(reference + amount + currency [+ expiration_time] + secret)``, lowercase.

    Plain concatenation, SHA-256 (not HMAC). Server side only. An empty secret, or an amount that
    is not an integer (``str(1800000.0)`` would sign the wrong text), is a programming error.
    """
    if not secret:
        raise ValueError("integrity secret is empty")
    if isinstance(amount_in_cents, bool) or not isinstance(amount_in_cents, int):
        raise ValueError("amount_in_cents must be an integer")
    text = f"{reference}{amount_in_cents}{currency}{expiration_time or ''}{secret}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def event_checksum(event: Any, secret: str) -> str | None:
    """The checksum an event should carry, or None when it cannot be computed.

    ``sha256_hex(concat(str(data.<p>) for p in signature.properties) + str(timestamp) + secret)``.
    None for a malformed event: missing ``signature``/``properties``/``timestamp``/``data``,
    properties not a non-empty list of strings, a property path that is not found, or a value
    that is not a string or an integer (its text would be ambiguous across languages: None,
    booleans, floats, objects). None as well for an empty secret.
    """
    if not secret or not isinstance(secret, str) or not isinstance(event, dict):
        return None
    signature = event.get("signature")
    data = event.get("data")
    if not isinstance(signature, dict) or not isinstance(data, dict):
        return None
    properties = signature.get("properties")
    if not isinstance(properties, list) or not properties:
        return None
    timestamp = _as_text(event.get("timestamp"))
    if timestamp is None:
        return None
    parts: list[str] = []
    for path in properties:
        if not isinstance(path, str) or not path:
            return None
        node: Any = data
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        text = _as_text(node)
        if text is None:
            return None
        parts.append(text)
    payload = "".join(parts) + timestamp + secret
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# The fields a transaction event must sign: the sender does not choose what is authentic.
REQUIRED_SIGNED_PROPERTIES = ("transaction.id", "transaction.status", "transaction.amount_in_cents")


def signs_what_we_read(event: Any) -> bool:
    """Does the event's signature cover the transaction's id, status and amount?"""
    signature = event.get("signature") if isinstance(event, dict) else None
    properties = signature.get("properties") if isinstance(signature, dict) else None
    if not isinstance(properties, list):
        return False
    return all(p in properties for p in REQUIRED_SIGNED_PROPERTIES)


def verify_event(event: Any, secret: str | None, header_checksum: str | None = None) -> bool:
    """True only for a well-formed event whose checksum matches and covers what we read.

    Fails closed: an empty or missing secret rejects everything. The body's
    ``signature.checksum`` and the ``X-Event-Checksum`` header (pass it as ``header_checksum``;
    None or blank means absent) are compared case-insensitively in constant time; at least one
    must be present and every one present must match.
    """
    if not secret or not isinstance(secret, str):
        return False
    if not signs_what_we_read(event):
        return False
    expected = event_checksum(event, secret)
    if expected is None:
        return False
    candidates: list[str] = []
    body_checksum = event["signature"].get("checksum")
    if body_checksum is not None:
        if not isinstance(body_checksum, str):
            return False
        candidates.append(body_checksum)
    if header_checksum is not None:
        if not isinstance(header_checksum, str):
            return False
        if header_checksum.strip():
            candidates.append(header_checksum)
    if not candidates:
        return False
    wanted = expected.encode("ascii")
    results = [hmac.compare_digest(c.strip().lower().encode("utf-8"), wanted) for c in candidates]
    return all(results)
