"""The notification signature: ``sha256:`` + hex(SHA-256(requestId + status + date + secretKey)).

docs/placetopay.md "Notification": the SHA-256 form arrived in 2.30.0 (switched on per account by
PlacetoPay support) and carries the ``sha256:`` prefix; the legacy form is 40 hex characters of
SHA-1 over the same text with no prefix (SDK ``Notification::makeSignature``). We accept both:
look for the prefix, strip it, recompute, compare in constant time. The hash input is built from
the values as received: the decimal text of ``requestId``, then ``status.status`` and
``status.date`` exactly as sent, then the site's secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

SHA256_PREFIX = "sha256:"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")


def signed_text(request_id: str, status: str, date: str, secret_key: str) -> str:
    return f"{request_id}{status}{date}{secret_key}"


def notification_signature(
    request_id: int | str, status: str, date: str, secret_key: str, algorithm: str = "sha256"
) -> str:
    """The signature PlacetoPay would send: ``sha256:<hex>``, or bare SHA-1 hex (legacy)."""
    if not secret_key:
        raise ValueError("secret key is empty")
    text = signed_text(str(request_id), status, date, secret_key).encode("utf-8")
    if algorithm == "sha256":
        return SHA256_PREFIX + hashlib.sha256(text).hexdigest()
    if algorithm == "sha1":
        return hashlib.sha1(text).hexdigest()  # noqa: S324 - PlacetoPay's legacy format
    raise ValueError(f"unknown signature algorithm {algorithm!r}")


def request_id_text(value: Any) -> str | None:
    """The decimal text of a received ``requestId`` (an integer, or a string of digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value >= 0 else None
    if isinstance(value, str) and _DIGITS.match(value):
        return value
    return None


def signature_algorithm(signature: Any, *, accept_sha1: bool = True) -> str | None:
    """``"sha256"`` or ``"sha1"`` by the signature's shape; None for anything else."""
    if not isinstance(signature, str):
        return None
    text = signature.strip().lower()
    if text.startswith(SHA256_PREFIX):
        return "sha256" if _HEX64.match(text[len(SHA256_PREFIX) :]) else None
    if accept_sha1 and _HEX40.match(text):
        return "sha1"
    return None


def verify_notification(body: Any, secret_key: str | None, *, accept_sha1: bool = True) -> bool:
    """True only for a well-formed body whose signature matches; fails closed.

    An empty or missing secret rejects everything. ``accept_sha1=False`` refuses the legacy
    form (for an account where PlacetoPay has switched SHA-256 on).
    """
    if not secret_key or not isinstance(secret_key, str) or not isinstance(body, dict):
        return False
    status = body.get("status")
    if not isinstance(status, dict):
        return False
    request_id = request_id_text(body.get("requestId"))
    state, date = status.get("status"), status.get("date")
    if request_id is None or not isinstance(state, str) or not isinstance(date, str):
        return False
    if not state or not date:
        return False
    signature = body.get("signature")
    algorithm = signature_algorithm(signature, accept_sha1=accept_sha1)
    if algorithm is None:
        return False
    expected = notification_signature(request_id, state, date, secret_key, algorithm)
    return hmac.compare_digest(signature.strip().lower().encode("ascii"), expected.encode("ascii"))
