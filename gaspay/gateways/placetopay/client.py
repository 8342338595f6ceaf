"""The WebCheckout HTTP client: timeouts, retries only where they are safe, every field we need.

Retries (docs/placetopay.md, reliability promise 5):

* ``create_session`` is never retried. A second create is a second session (whether the same
  reference is refused is UNCONFIRMED), so after a timeout, a 5xx or a closed connection the
  outcome is unknown: ``GatewayUnavailable``. No requestId came back, so nobody can query that
  session, and its processUrl was never shown to anyone, so nothing can be paid on it; it
  expires by itself at ``expiration``.
* ``query_session`` may be retried (it changes nothing): on network errors and 5xx, with
  exponential backoff and jitter, at most ``retries`` extra tries, each with a fresh nonce and
  seed. Any query that does not answer a readable session is unknown (GatewayUnavailable, or
  GatewayRejected for a definite 4xx such as a failed authentication): no change, ask later.
* ``cancel_session`` is not retried either: a retried cancel that had worked answers
  ``action_not_allowed``, which would read as a refusal.

Secrets (the secret key, the tranKey) never appear in logs or exception messages; request
bodies (personal data) are never logged.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from gaspay.gateways.placetopay import statuses
from gaspay.gateways.placetopay.auth import ALGORITHM, authentication
from gaspay.gateways.placetopay.errors import GatewayRejected, GatewayUnavailable, NotFound
from gaspay.gateways.placetopay.values import (
    CreatedSession,
    Person,
    SessionInfo,
    Status,
    request_id_of,
    total_for,
)

log = logging.getLogger(__name__)

#: docs/placetopay.md "Create a session": limits as documented.
REFERENCE_MAX = 32
DESCRIPTION_MAX = 250  # the schema says 255, the prose "up to 250"
URL_MAX = 255
IP_MAX = 46
USER_AGENT_MAX = 255
#: ``expiration`` must be at least 5 minutes after creation; we send it always (the old docs
#: mark it required) and, by default, 30 minutes ahead (the server's own default since 2.22.1).
EXPIRATION_MIN = timedelta(minutes=5)
DEFAULT_EXPIRATION = timedelta(minutes=30)
#: A payer whose browser sends no User-Agent still has to be sent something (the field is
#: required); this says plainly that we do not know.
UNKNOWN_USER_AGENT = "unknown"
#: ``paymentMethod`` restrictions. The current docs use lowercase codes (api-services-docs
#: "Métodos de pago": visa, master, amex, diners, discover, visa_electron, pse); old docs used
#: franchise codes such as ``_PSE_``. Which style the server wants today is UNCONFIRMED: change
#: it here.
PAYMENT_METHODS: dict[str, str] = {
    "pse": "pse",
    "card": "visa,master,amex,diners,discover,visa_electron",
}
LOCALE_RE = re.compile(r"^[a-z]{2}_[A-Z]{2}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_AUTH_CODE_RE = re.compile(r"(\d+)\s*$")
_MAX_BACKOFF = 5.0
_MAX_CONNECT_TIMEOUT = 5.0
_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


# --------------------------------------------------------------------------- text helpers


def session_reference(reference: str) -> str:
    """The reference as sent (blanks trimmed); ValueError outside 1-32 printable characters."""
    text = str(reference).strip()
    if not text or len(text) > REFERENCE_MAX or not text.isprintable():
        raise ValueError("reference must be 1-32 printable characters")
    return text


def session_description(description: str, reference: str = "") -> str:
    """``payment.description`` as sent: blanks collapsed, at most 250 characters."""
    text = " ".join(str(description).split())
    if not text:
        text = f"Pago {reference}".strip()
    return text[:DESCRIPTION_MAX].rstrip()


def _absolute_url(value: str | None, name: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"{name} must be an absolute http(s) URL")
    if len(value) > URL_MAX or any(ch.isspace() for ch in value):
        raise ValueError(f"{name} must be at most {URL_MAX} characters, without blanks")
    return value


def _http_url(value: Any) -> str | None:
    """An http(s) URL to send the browser to, or None (never ``javascript:`` and the like)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not re.match(r"^https?://[^\s/]+", text, re.IGNORECASE) or any(c.isspace() for c in text):
        return None
    return text


# --------------------------------------------------------------------------- client


class PlacetoPayClient:
    """One PlacetoPay site (one tenant). Thread-safe as long as the requests session is."""

    def __init__(
        self,
        *,
        base_url: str,
        login: str,
        secret_key: str,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.3,
        sleep: Callable[[float], Any] = time.sleep,
        now: Callable[[], datetime] | None = None,
        algorithm: str = ALGORITHM,
    ):
        if not base_url:
            raise ValueError("base_url is empty")
        if not login or not secret_key:
            raise ValueError("PlacetoPay login and secret key are required")
        self.base_url = base_url.rstrip("/")
        self.login = login
        self._secret_key = secret_key
        self._session = session if session is not None else requests.Session()
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self._sleep = sleep
        self._now = now or (lambda: datetime.now(UTC))
        self._algorithm = algorithm

    def __repr__(self) -> str:  # never show the secret key
        return f"PlacetoPayClient(base_url={self.base_url!r}, login={self.login!r})"

    # -- endpoints ---------------------------------------------------------------------

    def create_session(
        self,
        *,
        reference: str,
        description: str,
        amount_cents: int,
        currency: str,
        return_url: str,
        ip_address: str,
        user_agent: str | None,
        payer: Person | None = None,
        buyer: Person | None = None,
        payment_method: str | None = None,
        expiration: datetime | None = None,
        cancel_url: str | None = None,
        locale: str | None = "es_CO",
        skip_result: bool = False,
    ) -> CreatedSession:
        """``POST /api/session`` for a one-off payment; one try only (see the module doc).

        ``payment_method``: None (PlacetoPay's page offers every method of the site), ``"pse"``
        or ``"card"`` (``PAYMENT_METHODS``). ``payer`` forces the payer's data; ``buyer`` only
        pre-fills it. ``allowPartial`` is always false. No notification URL is sent: for a
        one-off session there is no such field, PlacetoPay uses the one configured for the site.
        Raises ValueError for bad arguments (nothing sent), GatewayRejected when no session was
        created, GatewayUnavailable when the outcome is unknown.
        """
        reference = session_reference(reference)
        currency = str(currency).strip().upper()
        if not _CURRENCY_RE.match(currency):
            raise ValueError("currency must be an ISO 4217 code")
        total = total_for(amount_cents, currency)
        return_url = _absolute_url(return_url, "return_url")
        try:
            ip = str(ipaddress.ip_address(str(ip_address).strip()))
        except ValueError:
            raise ValueError("ip_address is not an IP address") from None
        if len(ip) > IP_MAX:
            raise ValueError("ip_address is too long")
        moment = self._now()
        if expiration is None:
            expiration = moment + DEFAULT_EXPIRATION
        if expiration.tzinfo is None:
            raise ValueError("expiration needs its offset (an aware datetime)")
        if expiration - moment < EXPIRATION_MIN:
            raise ValueError("expiration must be at least 5 minutes ahead")
        body: dict[str, Any] = {
            "payment": {
                "reference": reference,
                "description": session_description(description, reference),
                "amount": {"currency": currency, "total": total},
                "allowPartial": False,
            },
            "returnUrl": return_url,
            "ipAddress": ip,
            "userAgent": (" ".join((user_agent or "").split()) or UNKNOWN_USER_AGENT)[
                :USER_AGENT_MAX
            ],
            "expiration": expiration.isoformat(timespec="seconds"),
        }
        if cancel_url:
            body["cancelUrl"] = _absolute_url(cancel_url, "cancel_url")
        if locale:
            if not LOCALE_RE.match(locale):
                raise ValueError("locale must look like es_CO")
            body["locale"] = locale
        if payer is not None:
            body["payer"] = payer.to_api()
        if buyer is not None:
            body["buyer"] = buyer.to_api()
        if payment_method is not None:
            if payment_method not in PAYMENT_METHODS:
                raise ValueError(f"payment_method must be one of {sorted(PAYMENT_METHODS)}")
            body["paymentMethod"] = PAYMENT_METHODS[payment_method]
        if skip_result:
            body["skipResult"] = True
        answer = self._request("/api/session", body, retries=0)
        status = Status.from_api(answer.get("status"))
        if status.status != statuses.REQUEST_OK:
            raise GatewayRejected(
                f"PlacetoPay create: status {status.status} ({status.reason or 'no reason'})",
                status_code=200,
                reason=status.reason,
                message=status.message,
            )
        request_id = request_id_of(answer.get("requestId"))
        process_url = _http_url(answer.get("processUrl"))
        if request_id is None or process_url is None:
            # OK said a session exists, but we cannot tell which: as unknown as a timeout.
            raise GatewayUnavailable("PlacetoPay create: OK without a usable requestId/processUrl")
        return CreatedSession(request_id=request_id, process_url=process_url, status=status)

    def query_session(self, request_id: int | str) -> SessionInfo:
        """``POST /api/session/{requestId}``; retried on network errors and 5xx.

        A 2xx answer whose status is FAILED, or that cannot be read, is GatewayUnavailable.
        """
        number = request_id_of(request_id)
        if number is None:
            raise ValueError("request_id must be a non-negative integer")
        answer = self._request(f"/api/session/{number}", {}, retries=None)
        status = answer.get("status")
        if isinstance(status, dict) and status.get("status") == statuses.REQUEST_FAILED:
            raise GatewayUnavailable("PlacetoPay query answered FAILED")
        return SessionInfo.from_api(answer, number)

    def cancel_session(self, request_id: int | str) -> Status:
        """``POST /api/session/{requestId}/cancel`` (2.28.0): only while nothing is approved or
        in progress; the session becomes REJECTED/MC. One try. 400 ``action_not_allowed`` and
        404 ``request_not_valid`` come back as GatewayRejected / NotFound."""
        number = request_id_of(request_id)
        if number is None:
            raise ValueError("request_id must be a non-negative integer")
        answer = self._request(f"/api/session/{number}/cancel", {}, retries=0)
        status = Status.from_api(answer.get("status"))
        if status.status == statuses.REQUEST_FAILED:
            raise GatewayRejected(
                f"PlacetoPay cancel: FAILED ({status.reason or 'no reason'})",
                status_code=200,
                reason=status.reason,
                message=status.message,
            )
        return status

    # -- plumbing ----------------------------------------------------------------------

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter before retry number ``attempt`` (1-based)."""
        base = self.backoff * (2 ** (attempt - 1))
        return min(_MAX_BACKOFF, base + random.uniform(0, self.backoff))

    def _request(self, path: str, body: dict, *, retries: int | None) -> dict:
        """One POST with its own ``auth`` per try; the decoded JSON object of a 2xx answer."""
        url = self.base_url + path
        label = f"POST {re.sub(r'/[0-9]+', '/{id}', path)}"
        tries = 1 + (self.retries if retries is None else max(0, retries))
        timeout = (min(self.timeout, _MAX_CONNECT_TIMEOUT), self.timeout)
        last_error: GatewayUnavailable | None = None
        for attempt in range(tries):
            if attempt:
                self._sleep(self._delay(attempt))
            payload = {
                "auth": authentication(
                    self.login, self._secret_key, now=self._now, algorithm=self._algorithm
                ),
                **body,
            }
            try:
                response = self._session.post(
                    url,
                    json=payload,
                    headers={"Accept": "application/json"},
                    timeout=timeout,
                    allow_redirects=False,
                )
            except _NETWORK_ERRORS as exc:
                last_error = GatewayUnavailable(f"PlacetoPay {label}: {type(exc).__name__}")
                log.warning(
                    "PlacetoPay %s try %d/%d: %s", label, attempt + 1, tries, type(exc).__name__
                )
                continue
            except requests.exceptions.RequestException as exc:
                raise GatewayUnavailable(f"PlacetoPay {label}: {type(exc).__name__}") from None
            code = response.status_code
            if code >= 500:
                last_error = GatewayUnavailable(
                    f"PlacetoPay {label}: HTTP {code}", status_code=code
                )
                log.warning("PlacetoPay %s try %d/%d: HTTP %d", label, attempt + 1, tries, code)
                continue
            if 200 <= code < 300:
                return _json_object(response, label)
            if 400 <= code < 500:
                raise _rejection(response, label)
            raise GatewayUnavailable(
                f"PlacetoPay {label}: unexpected HTTP {code}", status_code=code
            )
        raise last_error or GatewayUnavailable(f"PlacetoPay {label}: no try was made")


# --------------------------------------------------------------------------- module helpers


def _json_object(response: requests.Response, label: str) -> dict:
    try:
        data = response.json(parse_float=Decimal)
    except ValueError:
        raise GatewayUnavailable(
            f"PlacetoPay {label}: answer is not JSON", status_code=response.status_code
        ) from None
    if not isinstance(data, dict):
        raise GatewayUnavailable(
            f"PlacetoPay {label}: answer is not a JSON object", status_code=response.status_code
        )
    return data


def _rejection(response: requests.Response, label: str) -> GatewayRejected:
    code = response.status_code
    reason = message = None
    auth_code = None
    try:
        body = response.json(parse_float=Decimal)
    except ValueError:
        body = None
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, dict):
        raw_reason = status.get("reason")
        if isinstance(raw_reason, str | int) and not isinstance(raw_reason, bool):
            reason = str(raw_reason)
        if isinstance(status.get("message"), str):
            message = status["message"]
    if code == 401 and message:
        found = _AUTH_CODE_RE.search(message)
        auth_code = int(found.group(1)) if found else None
    # The reason code only: the message may echo personal data back.
    detail = f"reason {reason}" if reason else "no reason"
    if auth_code is not None:
        detail += f", authentication code {auth_code}"
    cls = NotFound if code == 404 else GatewayRejected
    return cls(
        f"PlacetoPay {label}: HTTP {code} ({detail})",
        status_code=code,
        reason=reason,
        message=message,
        auth_code=auth_code,
    )
