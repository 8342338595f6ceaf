"""The HTTP client: timeouts, bounded retries with jitter, every documented field."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from gaspay.gateways.wompi.errors import GatewayError, GatewayRejected, GatewayUnavailable, NotFound
from gaspay.gateways.wompi.signatures import integrity_signature
from gaspay.gateways.wompi.values import (
    Acceptance,
    Bank,
    Transaction,
    _as_text,
    _opt_str,
    _required_str,
)

log = logging.getLogger(__name__)

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
