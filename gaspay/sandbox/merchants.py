"""Merchant accounts the emulator knows, acceptance tokens, integrity signatures, the bank list.

Independent of gaspay.gateways on purpose: a bug shared by the client and the emulator would
otherwise go unnoticed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

log = logging.getLogger(__name__)

ACCEPTANCE_MAX_AGE = 3600
END_USER_POLICY = "END_USER_POLICY"
PERSONAL_DATA_AUTH = "PERSONAL_DATA_AUTH"

APPROVE_BANK = "1"
DECLINE_BANK = "2"
BANKS: tuple[tuple[str, str], ...] = (
    (APPROVE_BANK, "Banco que aprueba (sandbox)"),
    (DECLINE_BANK, "Banco que rechaza (sandbox)"),
    ("1001", "Banco de Bogotá"),
    ("1002", "Banco Popular"),
    ("1006", "Banco Itaú"),
    ("1007", "Bancolombia"),
    ("1009", "Citibank"),
    ("1012", "Banco GNB Sudameris"),
    ("1013", "BBVA Colombia"),
    ("1019", "Scotiabank Colpatria"),
    ("1023", "Banco de Occidente"),
    ("1032", "Banco Caja Social"),
    ("1040", "Banco Agrario"),
    ("1051", "Banco Davivienda"),
    ("1052", "Banco AV Villas"),
    ("1058", "Banco Procredit"),
    ("1060", "Banco Pichincha"),
    ("1061", "Bancoomeva"),
    ("1062", "Banco Falabella"),
    ("1065", "Banco Santander Colombia"),
    ("1066", "Banco Cooperativo Coopcentral"),
    ("1292", "Confiar Cooperativa Financiera"),
    ("1507", "Nequi"),
    ("1551", "Daviplata"),
)
BANK_NAMES = dict(BANKS)


@dataclass(frozen=True)
class Merchant:
    number: int
    slug: str
    name: str
    public_key: str
    private_key: str
    integrity_secret: str
    events_secret: str

    @property
    def environment(self) -> str:
        return "prod" if self.public_key.startswith("pub_prod_") else "test"


class Registry:
    """Merchants by public key, private key and tenant slug."""

    def __init__(self, merchants: list[Merchant]):
        self.by_public = {m.public_key: m for m in merchants}
        self.by_private = {m.private_key: m for m in merchants}
        self.by_slug = {m.slug: m for m in merchants}

    def from_bearer(self, header: str | None) -> tuple[Merchant | None, str | None]:
        """(merchant, "public" | "private") for an `Authorization: Bearer <key>` header."""
        scheme, _, key = (header or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return None, None
        if key in self.by_public:
            return self.by_public[key], "public"
        if key in self.by_private:
            return self.by_private[key], "private"
        return None, None


def merchant_number(slug: str) -> int:
    """A stable Wompi-like merchant id (five digits) for a tenant."""
    return 10000 + int(hashlib.sha256(slug.encode()).hexdigest(), 16) % 90000


def build_registry(tenants: dict) -> Registry:
    merchants = []
    for slug, tenant in tenants.items():
        account = getattr(tenant, "wompi", None)
        if account is None:
            continue
        merchants.append(
            Merchant(
                number=merchant_number(slug),
                slug=slug,
                name=getattr(tenant, "legal_name", None) or getattr(tenant, "name", slug),
                public_key=account.public_key,
                private_key=account.private_key,
                integrity_secret=account.integrity_secret,
                events_secret=account.events_secret,
            )
        )
    if not merchants:
        log.warning("sandbox: no tenant has a Wompi account; the emulator knows no merchant")
    return Registry(merchants)


def registry(app: Flask | None = None) -> Registry:
    return (app or current_app).extensions["gaspay.sandbox"]


def _acceptance_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="gaspay.sandbox.acceptance")


def issue_acceptance_token(merchant: Merchant, kind: str) -> str:
    payload = {"m": merchant.public_key, "t": kind, "n": secrets.token_hex(8)}
    return _acceptance_serializer().dumps(payload)


def acceptance_token_valid(token: object, merchant: Merchant, kind: str) -> bool:
    if not isinstance(token, str) or not token:
        return False
    try:
        payload = _acceptance_serializer().loads(token, max_age=ACCEPTANCE_MAX_AGE)
    except BadSignature:
        return False
    return (
        isinstance(payload, dict)
        and payload.get("m") == merchant.public_key
        and payload.get("t") == kind
    )


def integrity_signature(
    reference: str, amount_in_cents: int, currency: str, expiration: str | None, secret: str
) -> str:
    raw = f"{reference}{amount_in_cents}{currency}{expiration or ''}{secret}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def signature_matches(given: object, expected: str) -> bool:
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.strip().lower().encode(), expected.encode())
