"""What PlacetoPay sends and answers, parsed defensively into frozen values; money in cents.

PlacetoPay sends totals as JSON numbers (``1000``) or as strings (``"1000000.00"``, SDK fixture):
both become integer cents through ``Decimal`` (answers are decoded with ``parse_float=Decimal``,
so no binary float ever touches an amount). A total with a fraction of a cent, a negative one,
NaN, a boolean or any other shape is refused: an answer we cannot read tells us nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from gaspay.gateways.placetopay import statuses
from gaspay.gateways.placetopay.errors import GatewayUnavailable

_NUMBER_TEXT = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,6})?$")

#: docs/placetopay.md "Person fields": Colombian document types plus the global ones. The
#: passport is ``PPN`` (Wompi says ``PP``).
DOCUMENT_TYPES = ("CC", "CE", "TI", "NIT", "RUT", "PPN", "TAX", "LIC")
DOCUMENT_TYPE_ALIASES = {"PP": "PPN"}
#: The documented patterns (docs/placetopay.md); the other types have none documented.
DOCUMENT_PATTERNS = {
    "CC": re.compile(r"^[1-9][0-9]{3,9}$"),
    "CE": re.compile(r"^([a-zA-Z]{1,5})?[1-9][0-9]{3,7}$"),
    "TI": re.compile(r"^[1-9][0-9]{4,11}$"),
    "NIT": re.compile(r"^[1-9]\d{6,9}$"),
    "PPN": re.compile(r"^[a-zA-Z0-9_]{4,16}$"),
}
DOCUMENT_MAX = 25
NAME_MAX = 60  # name, surname and company (2.33.0)
EMAIL_MAX = 80
MOBILE_MAX = 30
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --------------------------------------------------------------------------- money


def to_cents(value: Any) -> int:
    """A PlacetoPay total (JSON number or numeric string) as integer cents; ValueError else.

    ``1000`` -> 100000, ``"1000000.00"`` -> 100000000, ``Decimal("18000.5")`` -> 1800050.
    Refused: booleans, negatives, NaN/infinity, exponents, more than whole cents
    (``"10.005"``), empty or non-numeric text.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("amount is not finite")
        number = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str) and _NUMBER_TEXT.match(value.strip()):
        number = Decimal(value.strip())
    else:
        raise ValueError("amount is not a number")
    if not number.is_finite() or number < 0:
        raise ValueError("amount must be a finite number, not negative")
    try:
        cents = number * 100
        if cents != cents.to_integral_value():
            raise ValueError("amount has a fraction of a cent")
        return int(cents)
    except InvalidOperation:
        raise ValueError("amount is not a number") from None


def total_for(amount_cents: int, currency: str) -> int | float:
    """``payment.amount.total`` as sent: whole pesos for COP (the server rounds COP), else with
    two decimals. A JSON number either way (an ``int``, or a float whose shortest text is the
    exact two-decimal amount)."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise ValueError("amount_cents must be an integer")
    if amount_cents <= 0:
        raise ValueError("amount_cents must be positive")
    whole, cents = divmod(amount_cents, 100)
    if currency == "COP" and cents:
        raise ValueError("COP amounts go to PlacetoPay in whole pesos")
    if not cents:
        return whole
    return float(Decimal(amount_cents) / 100)


# --------------------------------------------------------------------------- people


def normalise_document_type(value: str) -> str:
    kind = (value or "").strip().upper()
    return DOCUMENT_TYPE_ALIASES.get(kind, kind)


@dataclass(frozen=True)
class Person:
    """A ``buyer`` (pre-fills PlacetoPay's form, editable) or ``payer`` (forced, not editable)."""

    document: str | None = None
    document_type: str | None = None
    name: str | None = None
    surname: str | None = None
    email: str | None = None
    mobile: str | None = None
    company: str | None = None

    def problems(self) -> dict[str, str]:
        """Spanish messages by field for what PlacetoPay would refuse; empty when fine."""
        found: dict[str, str] = {}
        if self.document or self.document_type:
            kind = normalise_document_type(self.document_type or "")
            document = (self.document or "").strip()
            if kind not in DOCUMENT_TYPES:
                found["document_type"] = "El tipo de documento no es válido."
            elif not document or len(document) > DOCUMENT_MAX:
                found["document"] = "Escriba el número de documento."
            elif kind in DOCUMENT_PATTERNS and not DOCUMENT_PATTERNS[kind].match(document):
                found["document"] = f"El número de documento no es un {kind} válido."
        if self.email:
            email = self.email.strip()
            if not _EMAIL.match(email) or len(email) > EMAIL_MAX:
                found["email"] = "Escriba un correo electrónico válido (máximo 80 caracteres)."
        if self.mobile and len(self.mobile.strip()) > MOBILE_MAX:
            found["mobile"] = "El celular es demasiado largo."
        return found

    def to_api(self) -> dict[str, str]:
        """The Person object as sent; names cut to 60 characters, empty fields left out."""
        problems = self.problems()
        if problems:
            raise ValueError(f"invalid person fields: {', '.join(sorted(problems))}")
        data: dict[str, str] = {}
        if self.document:
            data["document"] = self.document.strip()
            data["documentType"] = normalise_document_type(self.document_type or "")
        for key, value in (("name", self.name), ("surname", self.surname)):
            text = " ".join((value or "").split())[:NAME_MAX].strip()
            if text:
                data[key] = text
        if self.company and self.company.strip():
            data["company"] = " ".join(self.company.split())[:NAME_MAX].strip()
        if self.email and self.email.strip():
            data["email"] = self.email.strip()
        if self.mobile and self.mobile.strip():
            data["mobile"] = self.mobile.strip()
        return data


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Status:
    """``{status, reason, message, date}``; ``reason`` as text (401 arrives as a number)."""

    status: str
    reason: str | None
    message: str | None
    date: str | None

    @classmethod
    def from_api(cls, data: Any) -> Status:
        if not isinstance(data, dict):
            raise GatewayUnavailable("PlacetoPay answer has no status object")
        status = data.get("status")
        if not isinstance(status, str) or not status.strip():
            raise GatewayUnavailable("PlacetoPay status has no text 'status'")
        return cls(
            status=status.strip(),
            reason=_text(data.get("reason")),
            message=_opt_str(data.get("message")),
            date=_opt_str(data.get("date")),
        )


@dataclass(frozen=True)
class CreatedSession:
    """A created session: store both with the attempt before sending the payer away."""

    request_id: int
    process_url: str
    status: Status


@dataclass(frozen=True)
class Transaction:
    """One entry of ``payment[]``: a try inside the session (a session can hold several)."""

    status: Status
    internal_reference: int | None
    reference: str | None
    payment_method: str | None
    payment_method_name: str | None
    issuer_name: str | None
    amount_cents: int
    currency: str
    authorization: str | None
    receipt: str | None
    franchise: str | None
    refunded: bool
    processor_fields: dict[str, str] = field(default_factory=dict)
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_pse(self) -> bool:
        return (self.payment_method or "").lower() == "pse" or self.franchise == "_PSE_"

    @property
    def cus(self) -> str | None:
        """PSE's CUS: ``authorization`` (PlacetoPay's panel: "Authorization / CUS")."""
        if not self.is_pse:
            return None
        return self.authorization or self.processor_fields.get("trazabilyCode")

    @property
    def cus_conflict(self) -> bool:
        """True when ``authorization`` and ``processorFields[trazabilyCode]`` disagree."""
        trace = self.processor_fields.get("trazabilyCode")
        return bool(self.is_pse and self.authorization and trace and trace != self.authorization)

    @property
    def gateway_input(self) -> str | None:
        return statuses.transaction_input(self.status.status)

    @classmethod
    def from_api(cls, data: Any) -> Transaction:
        if not isinstance(data, dict):
            raise GatewayUnavailable("PlacetoPay transaction is not an object")
        amount = data.get("amount")
        source = amount.get("from") if isinstance(amount, dict) else None
        if not isinstance(source, dict):
            raise GatewayUnavailable("PlacetoPay transaction has no amount.from")
        try:
            cents = to_cents(source.get("total"))
        except ValueError as exc:
            raise GatewayUnavailable(f"PlacetoPay transaction amount: {exc}") from None
        currency = _opt_str(source.get("currency"))
        if currency is None:
            raise GatewayUnavailable("PlacetoPay transaction has no currency")
        refunded = data.get("refunded", False)
        if not isinstance(refunded, bool):
            raise GatewayUnavailable("PlacetoPay transaction 'refunded' is not true/false")
        internal = data.get("internalReference")
        fields: dict[str, str] = {}
        for item in data.get("processorFields") or ():
            if isinstance(item, dict) and isinstance(item.get("keyword"), str):
                value = _text(item.get("value"))
                if value is not None:
                    fields[item["keyword"]] = value
        return cls(
            status=Status.from_api(data.get("status")),
            internal_reference=_int(internal),
            reference=_text(data.get("reference")),
            payment_method=_opt_str(data.get("paymentMethod")),
            payment_method_name=_opt_str(data.get("paymentMethodName")),
            issuer_name=_opt_str(data.get("issuerName")),
            amount_cents=cents,
            currency=currency.strip().upper(),
            authorization=_text(data.get("authorization")),
            receipt=_text(data.get("receipt")),
            franchise=_opt_str(data.get("franchise")),
            refunded=refunded,
            processor_fields=fields,
            raw=data,
        )


@dataclass(frozen=True)
class Settlement:
    """What a session means for our attempt, by docs/placetopay.md "How gaspay should map it".

    ``gateway_input`` is a transition-table input or None (no definite answer; ``review`` then
    says why, when there is something a person should look at). ``transaction`` is the one the
    receipt comes from (the matching APPROVED one), or the most telling one otherwise.
    """

    gateway_input: str | None
    transaction: Transaction | None
    message: str | None
    review: str | None = None


@dataclass(frozen=True)
class SessionInfo:
    """The answer of ``POST /api/session/{requestId}``."""

    request_id: int
    status: Status
    reference: str | None
    amount_cents: int | None
    currency: str | None
    payments: tuple[Transaction, ...]
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def gateway_input(self) -> str | None:
        """The session status alone, mapped (use ``settle`` to decide on an attempt)."""
        return statuses.session_input(self.status.status)

    @property
    def is_final(self) -> bool:
        return self.status.status in statuses.FINAL_SESSION_STATUSES

    def approved_payments(self) -> list[Transaction]:
        return [t for t in self.payments if t.status.status == "APPROVED"]

    def settle(
        self,
        *,
        reference: str | None = None,
        amount_cents: int | None = None,
        currency: str | None = None,
    ) -> Settlement:
        """The transition-table input for this session, and the transaction behind it.

        Chosen by status, never by position (the order of ``payment[]`` is UNCONFIRMED):

        * session APPROVED: the APPROVED transaction matching reference, amount and currency
          (those given); VOIDED if it shows ``refunded`` (the session stays APPROVED after a
          reverse); with none matching, the first APPROVED one is returned as APPROVED so the
          core's own amount/reference check flags it; with no APPROVED one at all, None.
        * session REJECTED: DECLINED, with ``status.message``; but an APPROVED, unrefunded
          transaction inside contradicts it: None, for review.
        * session PENDING: PENDING, whatever its transactions (the pending one, if any, is
          returned for its CUS and bank).
        * partial statuses, FAILED, anything unknown: None.
        """
        state = self.status.status
        message = self.status.message
        approved = self.approved_payments()
        if state == "APPROVED":
            if not approved:
                return Settlement(None, None, message, "approved session without an approved try")
            chosen = next(
                (t for t in approved if _matches(t, reference, amount_cents, currency)),
                approved[0],
            )
            kind = statuses.VOIDED if chosen.refunded else statuses.APPROVED
            return Settlement(kind, chosen, chosen.status.message or message)
        if state == "REJECTED":
            live = [t for t in approved if not t.refunded]
            if live:
                return Settlement(None, live[0], message, "rejected session with an approved try")
            rejected = [t for t in self.payments if t.status.status == "REJECTED"]
            last = (rejected or list(self.payments) or [None])[0]
            return Settlement(statuses.DECLINED, last, message)
        if state == "PENDING":
            waiting = next((t for t in self.payments if t.gateway_input == statuses.PENDING), None)
            return Settlement(statuses.PENDING, waiting, message)
        if state in statuses.PARTIAL_STATUSES:
            return Settlement(None, approved[0] if approved else None, message, "partial payment")
        return Settlement(None, None, message, f"unknown session status {state[:40]}")

    @classmethod
    def from_api(cls, data: Any, request_id: int) -> SessionInfo:
        if not isinstance(data, dict):
            raise GatewayUnavailable("PlacetoPay query answer is not an object")
        answered = _int(data.get("requestId"))
        if answered != request_id:
            raise GatewayUnavailable("PlacetoPay query answered for another requestId")
        status = Status.from_api(data.get("status"))
        request = data.get("request")
        request = request if isinstance(request, dict) else {}
        payment = request.get("payment")
        payment = payment if isinstance(payment, dict) else {}
        amount = payment.get("amount")
        amount = amount if isinstance(amount, dict) else {}
        amount_cents: int | None = None
        if amount.get("total") is not None:
            try:
                amount_cents = to_cents(amount.get("total"))
            except ValueError as exc:
                raise GatewayUnavailable(f"PlacetoPay session amount: {exc}") from None
        currency = _opt_str(amount.get("currency"))
        payments = data.get("payment")
        if payments is None:
            payments = []
        if not isinstance(payments, list):
            raise GatewayUnavailable("PlacetoPay 'payment' is neither a list nor null")
        return cls(
            request_id=request_id,
            status=status,
            reference=_text(payment.get("reference")),
            amount_cents=amount_cents,
            currency=currency.strip().upper() if currency else None,
            payments=tuple(Transaction.from_api(item) for item in payments),
            raw=data,
        )


def _matches(txn: Transaction, reference, amount_cents, currency) -> bool:
    return (
        (reference is None or txn.reference == reference)
        and (amount_cents is None or txn.amount_cents == amount_cents)
        and (currency is None or txn.currency == currency)
    )


# --------------------------------------------------------------------------- helpers


def request_id_of(value: Any) -> int | None:
    """A ``requestId`` (an integer, or a string of digits) as an int; None otherwise."""
    return _int(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _text(value: Any) -> str | None:
    """Text of a string or an integer (``receipt`` and ``reason`` arrive as either)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
