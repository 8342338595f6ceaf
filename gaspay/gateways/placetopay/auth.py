"""The authentication object every PlacetoPay call carries: login, tranKey, nonce, seed.

``tranKey = Base64(SHA-256(rawNonce + seed + secretKey))`` over the raw digest bytes and the raw
nonce (not its Base64 form); ``nonce`` is the raw nonce in Base64, fresh on every request (every
try of a retried request too); ``seed`` is the current time in ISO 8601 with its offset, which
must be within 5 minutes of PlacetoPay's clock (error 103). Facts: docs/placetopay.md
"Authentication object".

The older docs and the PHP SDK (``dnetix/redirection``) use SHA-1 in the same formula and still
send it; whether the server accepts SHA-1 today is UNCONFIRMED. We send SHA-256 and keep SHA-1
only to reproduce the published vectors.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

#: What we send. ``"sha1"`` exists only to check the published (SHA-1) examples.
ALGORITHM = "sha256"
ALGORITHMS = frozenset({"sha256", "sha1"})

#: Schema limits of the ``auth`` object (docs/placetopay.md).
LOGIN_MAX = 32
TRANKEY_MAX = 64
NONCE_MAX = 255
SEED_MAX = 35

#: Bytes of randomness in a raw nonce. The raw nonce is sent as hex text, like the docs' own
#: example (``c9085e82debb82b0955579098be3d7ca``), so that it is plain ASCII on both sides.
NONCE_BYTES = 16


def new_raw_nonce() -> str:
    """A fresh random raw nonce (32 hex characters). Never reuse one."""
    return secrets.token_hex(NONCE_BYTES)


def seed_for(moment: datetime) -> str:
    """``moment`` in ISO 8601 with its offset, to the second: ``2026-04-14T17:03:09+00:00``."""
    if moment.tzinfo is None:
        raise ValueError("the seed needs an aware datetime (with its offset)")
    return moment.isoformat(timespec="seconds")


def tran_key(raw_nonce: str | bytes, seed: str, secret_key: str, algorithm: str = ALGORITHM) -> str:
    """``Base64(digest(rawNonce + seed + secretKey))`` with the raw digest bytes."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown tranKey algorithm {algorithm!r}")
    if not secret_key:
        raise ValueError("secret key is empty")
    nonce = raw_nonce.encode("utf-8") if isinstance(raw_nonce, str) else bytes(raw_nonce)
    digest = hashlib.new(algorithm, nonce + seed.encode("utf-8") + secret_key.encode("utf-8"))
    return base64.b64encode(digest.digest()).decode("ascii")


def encode_nonce(raw_nonce: str | bytes) -> str:
    """The raw nonce as sent: Base64."""
    nonce = raw_nonce.encode("utf-8") if isinstance(raw_nonce, str) else bytes(raw_nonce)
    return base64.b64encode(nonce).decode("ascii")


def authentication(
    login: str,
    secret_key: str,
    *,
    raw_nonce: str | bytes | None = None,
    seed: str | None = None,
    now: Callable[[], datetime] | None = None,
    algorithm: str = ALGORITHM,
) -> dict[str, str]:
    """The ``auth`` object for one request: ``{login, tranKey, nonce, seed}``.

    ``raw_nonce`` and ``seed`` are for tests with fixed vectors; by default every call draws a
    fresh nonce and reads the clock (``now``, UTC by default).
    """
    if not isinstance(login, str) or not login.strip():
        raise ValueError("PlacetoPay login is empty")
    if len(login) > LOGIN_MAX:
        raise ValueError(f"PlacetoPay login is longer than {LOGIN_MAX} characters")
    if raw_nonce is None:
        raw_nonce = new_raw_nonce()
    if seed is None:
        seed = seed_for((now or _utcnow)())
    if len(seed) > SEED_MAX:
        raise ValueError(f"seed is longer than {SEED_MAX} characters")
    nonce = encode_nonce(raw_nonce)
    if len(nonce) > NONCE_MAX:
        raise ValueError(f"nonce is longer than {NONCE_MAX} characters")
    return {
        "login": login,
        "tranKey": tran_key(raw_nonce, seed, secret_key, algorithm),
        "nonce": nonce,
        "seed": seed,
    }


def _utcnow() -> datetime:
    return datetime.now(UTC)
