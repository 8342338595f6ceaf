"""What Wompi answers, parsed defensively into frozen values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from gaspay.gateways.wompi.errors import GatewayUnavailable

#: Final transaction statuses (docs/wompi.md "Transactions").
FINAL_STATUSES = frozenset({"APPROVED", "DECLINED", "VOIDED", "ERROR"})

#: Keys of ``payment_method.extra`` that may hold the PSE CUS, first match wins. Public
#: integrations (a Dart SDK's PSE response model, admin UIs labelling it "CUS") show
#: ``traceability_code``; the others are defensive alternatives. ``ticket_id`` is NOT the CUS
#: (integrations show it separately as "Ticket ID"), so it is not used here; it stays in ``raw``.
CUS_KEYS: tuple[str, ...] = ("traceability_code", "cus", "trazability_code")

#: Keys that may hold the bank's name. Not seen in any public PSE answer (UNCONFIRMED): the bank
#: name usually has to come from our cached bank list by ``financial_institution_code``.
BANK_NAME_KEYS: tuple[str, ...] = ("bank_name", "financial_institution_name")

# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Bank:
    code: str
    name: str


@dataclass(frozen=True)
class Acceptance:
    """Both presigned tokens of ``GET /merchants/{public_key}`` and their documents."""

    acceptance_token: str
    permalink: str
    personal_data_token: str
    personal_data_permalink: str


@dataclass(frozen=True)
class Transaction:
    id: str
    status: str
    reference: str
    amount_in_cents: int
    currency: str
    payment_method_type: str | None
    async_payment_url: str | None
    cus: str | None
    bank_name: str | None
    status_message: str | None
    customer_email: str | None
    created_at: str | None
    finalized_at: str | None
    raw: dict = field(compare=False, repr=False)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def from_api(cls, data: Any) -> Transaction:
        """Build from a transaction object (``data`` of an answer, or an event's transaction).

        Raises GatewayUnavailable when a required field is missing or of the wrong type: an
        answer we cannot read tells us nothing definite.
        """
        if not isinstance(data, dict):
            raise GatewayUnavailable("Wompi transaction is not an object")
        txn_id = _required_str(data, "id")
        status = _required_str(data, "status")
        reference = _required_str(data, "reference")
        currency = _required_str(data, "currency")
        amount = _as_int(data.get("amount_in_cents"))
        if amount is None:
            raise GatewayUnavailable("Wompi transaction has no integer amount_in_cents")
        method = data.get("payment_method")
        method = method if isinstance(method, dict) else {}
        extra = method.get("extra")
        extra = extra if isinstance(extra, dict) else {}
        return cls(
            id=txn_id,
            status=status,
            reference=reference,
            amount_in_cents=amount,
            currency=currency,
            payment_method_type=_opt_str(data.get("payment_method_type"))
            or _opt_str(method.get("type")),
            async_payment_url=_http_url(extra.get("async_payment_url")),
            cus=_first_text(extra, CUS_KEYS),
            bank_name=_first_text(extra, BANK_NAME_KEYS) or _first_text(method, BANK_NAME_KEYS),
            status_message=_opt_str(data.get("status_message")),
            customer_email=_opt_str(data.get("customer_email")),
            created_at=_opt_str(data.get("created_at")),
            finalized_at=_opt_str(data.get("finalized_at")),
            raw=data,
        )


def _required_str(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise GatewayUnavailable(f"Wompi answer lacks a text '{key}'")
    return value


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _as_text(value: Any) -> str | None:
    """Text of a string or an integer; None for anything else (None, bool, float, object)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int):
        return str(value)
    return None


def _first_text(source: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        text = _as_text(source.get(key))
        if text is not None and text.strip():
            return text.strip()
    return None


def _http_url(value: Any) -> str | None:
    """An http(s) URL to send the browser to, or None (never ``javascript:`` and the like)."""
    text = _opt_str(value)
    if text is None:
        return None
    text = text.strip()
    return text if text.lower().startswith(("https://", "http://")) else None
