"""Wompi (Colombia) HTTP client: acceptance tokens, PSE banks, PSE transactions, events.

A pure client: it imports nothing from Flask or the rest of gaspay, takes plain values and
returns plain values or frozen dataclasses. Facts come from ``docs/wompi.md`` (field names, URLs,
formulas); where public sources disagree or say nothing, the choice is a named constant here so
it can change in one place.

Error model (reliability promises 4 and 5):

* ``GatewayUnavailable``: the outcome is UNKNOWN. Timeouts, connection errors, 5xx, 409, an
  answer that is not the JSON we expect, or a definite-looking 4xx that follows an earlier failed
  try of the same POST (the first try may have created the transaction). The caller must leave
  the attempt pending and let reconciliation resolve it; never mark it failed or paid.
* ``GatewayRejected``: the gateway definitely refused the request (4xx other than 409).
  ``NotFound`` is its 404.

Retries happen only on network errors, 409 and 5xx, with exponential backoff and jitter, at most
``retries`` extra tries. A retried POST sends the very same body (same reference), so the gateway
refuses a duplicate instead of charging twice.

Secrets (private key, integrity secret, events secret) never appear in logs or exception
messages; request bodies (personal data) are never logged either.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

log = logging.getLogger(__name__)

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

#: Where the payer's IP address would go in ``POST /transactions``. Wompi's public docs and every
#: public integration we found document NO IP field for PSE (docs/pse.md asks to send it, but that
#: comes from other gateways). Sending an undocumented field risks a 422 INPUT_VALIDATION_ERROR,
#: so by default the IP is NOT sent; the caller keeps it in its own record for the receipt. Set
#: this to a path such as ``("customer_data", "ip")`` once Wompi documents one.
PSE_IP_FIELD: tuple[str, ...] | None = None

#: docs/wompi.md: keep ``payment_description`` at most 30 characters (the docs say 30 and 64).
PSE_DESCRIPTION_MAX = 30

#: Placeholder bank code ("A continuación seleccione su banco"); the UI adds its own.
PLACEHOLDER_BANK_CODES = frozenset({"0", ""})

_MAX_BACKOFF = 5.0
_MAX_CONNECT_TIMEOUT = 5.0
_MIN_POLL_INTERVAL = 0.05


# --------------------------------------------------------------------------- errors


class GatewayError(Exception):
    """Base of every Wompi client error."""


class GatewayUnavailable(GatewayError):
    """No definite answer: the outcome is unknown (timeout, network, 5xx, 409, bad JSON)."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class GatewayRejected(GatewayError):
    """A definite 4xx answer: the gateway refused the request."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        messages: dict | None = None,
        reason: str | None = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.messages = messages if messages is not None else {}
        self.reason = reason


class NotFound(GatewayRejected):
    """404: the gateway does not know this resource."""


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


def verify_event(event: Any, secret: str | None, header_checksum: str | None = None) -> bool:
    """True only for a well-formed event whose checksum matches.

    Fails closed: an empty or missing secret rejects everything. The body's
    ``signature.checksum`` and the ``X-Event-Checksum`` header (pass it as ``header_checksum``;
    None or blank means absent) are compared case-insensitively in constant time; at least one
    must be present and every one present must match.
    """
    if not secret or not isinstance(secret, str):
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


# --------------------------------------------------------------------------- text helpers


def sanitize_text(value: str) -> str:
    """Strip ``|`` and ``"`` (docs/pse.md) and surrounding blanks."""
    return str(value).replace("|", "").replace('"', "").strip()


def sanitize_reference(reference: str) -> str:
    """The reference exactly as ``create_pse_transaction`` sends and signs it.

    Callers should record this value, since the gateway will know the transaction by it.
    """
    return sanitize_text(reference)


def pse_description(description: str, reference: str = "") -> str:
    """``payment_description`` as sent: sanitized, blanks collapsed, at most 30 characters."""
    text = " ".join(sanitize_text(description).split())
    if not text:
        text = f"Pago {sanitize_reference(reference)}".strip()
    return text[:PSE_DESCRIPTION_MAX].rstrip()


# --------------------------------------------------------------------------- client


class WompiClient:
    """One merchant account (one tenant). Thread-safe as long as the session is."""

    def __init__(
        self,
        *,
        api_url: str,
        public_key: str,
        private_key: str,
        integrity_secret: str,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.3,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not api_url:
            raise ValueError("api_url is empty")
        self.api_url = api_url.rstrip("/")
        self.public_key = public_key
        self._private_key = private_key
        self._integrity_secret = integrity_secret
        self._session = session if session is not None else requests.Session()
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:  # never show the secrets
        return f"WompiClient(api_url={self.api_url!r}, public_key={self.public_key!r})"

    # -- endpoints ---------------------------------------------------------------------

    def merchant_acceptance(self) -> Acceptance:
        """``GET /merchants/{public_key}`` (no auth): fresh acceptance tokens, one pair per try."""
        data = self._data(self._request("GET", f"/merchants/{_segment(self.public_key)}"))
        if not isinstance(data, dict):
            raise GatewayUnavailable("Wompi merchant answer has no data object")
        policy = data.get("presigned_acceptance")
        personal = data.get("presigned_personal_data_auth")
        if not isinstance(policy, dict) or not isinstance(personal, dict):
            raise GatewayUnavailable("Wompi merchant answer lacks presigned acceptance tokens")
        return Acceptance(
            acceptance_token=_required_str(policy, "acceptance_token"),
            permalink=_required_str(policy, "permalink"),
            personal_data_token=_required_str(personal, "acceptance_token"),
            personal_data_permalink=_required_str(personal, "permalink"),
        )

    def pse_banks(self) -> list[Bank]:
        """``GET /pse/financial_institutions`` (Bearer public key), in the gateway's order.

        Malformed entries, duplicates and the placeholder code ``0`` are dropped.
        """
        data = self._data(self._request("GET", "/pse/financial_institutions", auth="public"))
        if not isinstance(data, list):
            raise GatewayUnavailable("Wompi bank list is not a list")
        banks: list[Bank] = []
        seen: set[str] = set()
        for item in data:
            if not isinstance(item, dict):
                continue
            code = _as_text(item.get("financial_institution_code"))
            name = _opt_str(item.get("financial_institution_name"))
            code = code.strip() if code is not None else None
            name = name.strip() if name is not None else None
            if not code or not name or code in PLACEHOLDER_BANK_CODES or code in seen:
                continue
            seen.add(code)
            banks.append(Bank(code=code, name=name))
        return banks

    def create_pse_transaction(
        self,
        *,
        reference: str,
        amount_in_cents: int,
        currency: str,
        customer_email: str,
        acceptance_token: str,
        accept_personal_auth: str,
        redirect_url: str,
        user_type: int,
        legal_id_type: str,
        legal_id: str,
        bank_code: str,
        description: str,
        full_name: str,
        phone_number: str,
        ip_address: str | None = None,
    ) -> Transaction:
        """``POST /transactions`` (Bearer public key) for a PSE payment.

        The answer never carries the bank URL yet: use ``wait_for_async_url``. ``ip_address`` is
        accepted but only sent if ``PSE_IP_FIELD`` names a documented place (see there).
        """
        if isinstance(user_type, bool) or user_type not in (0, 1):
            raise ValueError("user_type must be 0 (natural) or 1 (juridica)")
        bank_code = str(bank_code).strip()
        if bank_code in PLACEHOLDER_BANK_CODES:
            raise ValueError("bank_code is the placeholder or empty")
        reference = sanitize_reference(reference)
        if not reference:
            raise ValueError("reference is empty")
        if isinstance(amount_in_cents, bool) or not isinstance(amount_in_cents, int):
            raise ValueError("amount_in_cents must be an integer")
        if amount_in_cents <= 0:
            raise ValueError("amount_in_cents must be positive")
        body: dict[str, Any] = {
            "acceptance_token": acceptance_token,
            "accept_personal_auth": accept_personal_auth,
            "amount_in_cents": amount_in_cents,
            "currency": currency,
            "signature": integrity_signature(
                reference, amount_in_cents, currency, self._integrity_secret
            ),
            "customer_email": customer_email.strip(),
            "reference": reference,
            "redirect_url": redirect_url,
            "payment_method": {
                "type": "PSE",
                "user_type": user_type,
                "user_legal_id_type": legal_id_type.strip().upper(),
                "user_legal_id": legal_id.strip(),
                "financial_institution_code": bank_code,
                "payment_description": pse_description(description, reference),
            },
            "customer_data": {
                "phone_number": phone_number.strip(),
                "full_name": full_name.strip(),
            },
        }
        if ip_address and PSE_IP_FIELD:
            node = body
            for key in PSE_IP_FIELD[:-1]:
                node = node.setdefault(key, {})
            node[PSE_IP_FIELD[-1]] = ip_address
        answer = self._request("POST", "/transactions", auth="public", json_body=body)
        return Transaction.from_api(self._data(answer))

    def get_transaction(self, txn_id: str) -> Transaction:
        """``GET /transactions/{id}`` (no auth needed)."""
        return self._get_transaction(txn_id, retries=None)

    def find_transactions(self, reference: str) -> list[Transaction]:
        """``GET /transactions?reference=…`` (Bearer private key).

        ``data`` is a list in every public integration seen (a lone object is accepted too). Only
        transactions whose reference is exactly ours are returned, in the gateway's order; one
        unreadable transaction makes the whole answer unknown (GatewayUnavailable) rather than
        silently hiding a payment.
        """
        reference = sanitize_reference(reference)
        if not reference:
            raise ValueError("reference is empty")
        data = self._data(
            self._request("GET", "/transactions", auth="private", params={"reference": reference})
        )
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise GatewayUnavailable("Wompi transaction list is not a list")
        found = [Transaction.from_api(item) for item in data]
        return [t for t in found if t.reference == reference]

    def wait_for_async_url(self, txn_id: str, *, timeout: float, interval: float) -> Transaction:
        """Poll ``get_transaction`` until ``async_payment_url`` appears or the status is final.

        Returns the last transaction read when the time budget ends (its ``async_payment_url``
        may be None). Network trouble (GatewayUnavailable) and a 404 (the transaction may not be
        readable yet) are swallowed until the budget ends; other rejections propagate. Raises
        GatewayUnavailable if no transaction was ever read. Each poll makes a single try: the
        polling loop is the retry.
        """
        deadline = self._clock() + max(0.0, timeout)
        interval = max(_MIN_POLL_INTERVAL, interval)
        last: Transaction | None = None
        last_error: GatewayError | None = None
        while True:
            try:
                txn = self._get_transaction(txn_id, retries=0)
            except (GatewayUnavailable, NotFound) as exc:
                last_error = exc
            else:
                last = txn
                if txn.async_payment_url or txn.is_final:
                    return txn
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            self._sleep(min(interval, remaining))
        if last is None:
            raise GatewayUnavailable(
                "Wompi transaction could not be read before the time budget ended"
            ) from last_error
        return last

    # -- plumbing ----------------------------------------------------------------------

    def _get_transaction(self, txn_id: str, *, retries: int | None) -> Transaction:
        if not isinstance(txn_id, str) or not txn_id.strip():
            raise ValueError("transaction id is empty")
        answer = self._request("GET", f"/transactions/{_segment(txn_id.strip())}", retries=retries)
        return Transaction.from_api(self._data(answer))

    @staticmethod
    def _data(answer: Any) -> Any:
        if not isinstance(answer, dict) or "data" not in answer:
            raise GatewayUnavailable("Wompi answer has no 'data'")
        return answer["data"]

    def _headers(self, auth: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if auth == "public":
            headers["Authorization"] = f"Bearer {self.public_key}"
        elif auth == "private":
            headers["Authorization"] = f"Bearer {self._private_key}"
        return headers

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter before retry number ``attempt`` (1-based)."""
        base = self.backoff * (2 ** (attempt - 1))
        return min(_MAX_BACKOFF, base + random.uniform(0, self.backoff))

    def _request(
        self,
        method: str,
        path: str,
        *,
        auth: str | None = None,
        params: Mapping[str, str] | None = None,
        json_body: dict | None = None,
        retries: int | None = None,
    ) -> Any:
        """One call with retries; returns the decoded JSON of a 2xx answer."""
        url = self.api_url + path
        label = f"{method} {path.split('?')[0]}"
        tries = 1 + (self.retries if retries is None else max(0, retries))
        timeout = (min(self.timeout, _MAX_CONNECT_TIMEOUT), self.timeout)
        # True once a try may have reached the gateway without a definite answer.
        uncertain = False
        last_error: GatewayUnavailable | None = None
        for attempt in range(tries):
            if attempt:
                self._sleep(self._delay(attempt))
            try:
                response = self._session.request(
                    method,
                    url,
                    headers=self._headers(auth),
                    params=params,
                    json=json_body,
                    timeout=timeout,
                    allow_redirects=False,
                )
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                uncertain = True
                last_error = GatewayUnavailable(f"Wompi {label}: {type(exc).__name__}")
                log.warning("Wompi %s try %d/%d: %s", label, attempt + 1, tries, type(exc).__name__)
                continue
            except requests.exceptions.RequestException as exc:
                raise GatewayUnavailable(f"Wompi {label}: {type(exc).__name__}") from None
            status = response.status_code
            if status == 409 or status >= 500:
                uncertain = True
                last_error = GatewayUnavailable(f"Wompi {label}: HTTP {status}", status_code=status)
                log.warning("Wompi %s try %d/%d: HTTP %d", label, attempt + 1, tries, status)
                continue
            if 200 <= status < 300:
                return _json(response, label)
            if 400 <= status < 500:
                rejected = _rejection(response, label)
                if uncertain and method != "GET":
                    # An earlier try may have created it (e.g. 422 duplicate reference now).
                    raise GatewayUnavailable(
                        f"Wompi {label}: HTTP {status} after an earlier failed try; outcome "
                        "unknown",
                        status_code=status,
                    ) from rejected
                raise rejected
            raise GatewayUnavailable(f"Wompi {label}: unexpected HTTP {status}", status_code=status)
        raise last_error or GatewayUnavailable(f"Wompi {label}: no try was made")


# --------------------------------------------------------------------------- module helpers


def _segment(value: str) -> str:
    """One URL path segment: an id taken from a query string cannot walk the API's paths."""
    return quote(value, safe="")


def _json(response: requests.Response, label: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise GatewayUnavailable(
            f"Wompi {label}: answer is not JSON", status_code=response.status_code
        ) from None


def _rejection(response: requests.Response, label: str) -> GatewayRejected:
    status = response.status_code
    error_type: str | None = None
    messages: dict = {}
    reason: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error_type = _opt_str(error.get("type"))
        if isinstance(error.get("messages"), dict):
            messages = error["messages"]
        reason = _opt_str(error.get("reason"))
    # Field names only: the gateway's messages may echo personal data back.
    detail = error_type or "error"
    if messages:
        detail += f" (fields: {', '.join(sorted(str(k) for k in messages))})"
    cls = NotFound if status == 404 else GatewayRejected
    return cls(
        f"Wompi {label}: HTTP {status} {detail}",
        status_code=status,
        error_type=error_type,
        messages=messages,
        reason=reason,
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
