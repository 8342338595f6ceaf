"""The emulated PlacetoPay WebCheckout: its JSON API, the session page, signed notifications.

Like the real service (docs/placetopay.md): ``POST /sandbox/placetopay/api/session`` creates a
session and answers ``requestId`` and ``processUrl``; ``POST .../api/session/<requestId>`` answers
the session with its transactions; ``POST .../api/session/<requestId>/cancel`` cancels one that
has nothing approved or in progress. Every call must carry a valid ``auth`` object: the tranKey
is recomputed with the site's secret key (SHA-256, and SHA-1 unless
SANDBOX_PLACETOPAY_ACCEPT_SHA1 is off), the seed must be within 5 minutes, and a nonce may not
be used twice (the real service's replay rule is UNCONFIRMED; the emulator is strict so the
client's fresh nonce per try is tested).

The page at ``processUrl`` offers PSE (bank and person type) and card, then approve, reject or
leave pending; "No deseo continuar" cancels. The browser goes back to ``returnUrl`` (at once
with ``skipResult``, else from a result page). A session that reaches a final status sends the
signed notification (``sha256:`` form; SANDBOX_PLACETOPAY_SIGNATURE = "sha1" for the legacy one)
to the site's configured URL, ``<SANDBOX_BASE_URL>/<slug>/webhooks/placetopay`` unless
SANDBOX_PLACETOPAY_NOTIFICATION_URL (a template with ``{base}`` and ``{slug}``) says otherwise,
from a daemon thread after SANDBOX_EVENT_DELAY_SECONDS, once (PlacetoPay never retries;
SANDBOX_PLACETOPAY_NOTIFICATION_RETRIES adds retries with SANDBOX_EVENT_BACKOFF_SECONDS), unless
SANDBOX_SEND_EVENTS is off. ``wait_for_events`` joins these threads too.

Merchants are the tenants with a ``placetopay`` account (login, secret key). Independent of
gaspay.gateways on purpose: a bug shared by the client and the emulator would go unnoticed.
State is in memory (``reset()`` between tests).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import requests
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from gaspay.sandbox import events
from gaspay.sandbox.merchants import APPROVE_BANK, BANKS, DECLINE_BANK

log = logging.getLogger(__name__)

api_bp = Blueprint("sandbox_placetopay_api", __name__, url_prefix="/sandbox/placetopay/api")
bp = Blueprint("sandbox_placetopay", __name__, url_prefix="/sandbox/placetopay")

EXTENSION = "gaspay.sandbox.placetopay"
SEED_TOLERANCE = timedelta(minutes=5)
NONCE_MEMORY = timedelta(minutes=15)
EXPIRATION_MIN = timedelta(minutes=5)
DEFAULT_EXPIRATION = timedelta(minutes=30)
COLOMBIA = timezone(timedelta(hours=-5))
NOTIFICATION_TIMEOUT_SECONDS = 5
PSE_BANKS = tuple((c, n) for c, n in BANKS if c not in (APPROVE_BANK, DECLINE_BANK))
PSE_NAME = "Cuentas débito ahorro y corriente (PSE)"
CARD_BRANDS = {  # first digit -> (paymentMethod, paymentMethodName, franchise)
    "4": ("visa", "Visa", "CR_VS"),
    "5": ("master", "Master", "RM_MC"),
    "3": ("amex", "American Express", "CR_AM"),
}
CARD_CODES = frozenset({"visa", "master", "amex", "diners", "discover", "visa_electron"})
KNOWN_METHODS = CARD_CODES | {"pse", "_PSE_"}
DOCUMENT_TYPES = frozenset({"CC", "CE", "TI", "NIT", "RUT", "PPN", "TAX", "LIC"})
DOCUMENT_PATTERNS = {
    "CC": r"^[1-9][0-9]{3,9}$",
    "CE": r"^([a-zA-Z]{1,5})?[1-9][0-9]{3,7}$",
    "TI": r"^[1-9][0-9]{4,11}$",
    "NIT": r"^[1-9]\d{6,9}$",
    "PPN": r"^[a-zA-Z0-9_]{4,16}$",
}
MESSAGES = {
    "session_pending": "La petición se encuentra activa",
    "session_approved": "La petición ha sido aprobada exitosamente",
    "session_rejected": "La petición ha sido rechazada",
    "session_expired": "La petición ha expirado sin un pago aprobado",
    "payer_cancelled": "El proceso de pago ha sido cancelado por el usuario",
    "merchant_cancelled": "La petición ha sido cancelada por el comercio",
    "approved": "Aprobada",
    "rejected": "Rechazada",
    "pending_bank": (
        "La transacción se encuentra pendiente, por favor consulte con su entidad financiera "
        "si el débito fue realizado"
    ),
    "pending_validation": "La transacción se encuentra pendiente de validación",
}
STATUS_LABELS = {
    "PENDING": "Pendiente",
    "APPROVED": "Aprobada",
    "REJECTED": "Rechazada",
    "PENDING_VALIDATION": "Pendiente de validación",
}


# --------------------------------------------------------------------------- merchants


@dataclass(frozen=True)
class Merchant:
    slug: str
    name: str
    login: str
    secret_key: str


class Registry:
    def __init__(self, merchants: list[Merchant]):
        self.by_login = {m.login: m for m in merchants}
        self.by_slug = {m.slug: m for m in merchants}


def build_registry(tenants: dict) -> Registry:
    """The sites the emulator knows: every tenant with a ``placetopay`` account."""
    merchants = []
    for slug, tenant in tenants.items():
        account = getattr(tenant, "placetopay", None)
        if account is None:
            continue
        merchants.append(
            Merchant(
                slug=slug,
                name=getattr(tenant, "legal_name", None) or getattr(tenant, "name", slug),
                login=account.login,
                secret_key=account.secret_key,
            )
        )
    return Registry(merchants)


def registry(app: Flask | None = None) -> Registry:
    return (app or current_app).extensions[EXTENSION]


# --------------------------------------------------------------------------- state


def now() -> datetime:
    return datetime.now(UTC)


def p2p_date(moment: datetime) -> str:
    """PlacetoPay's dates: ISO 8601 in Colombian time, ``2021-11-30T15:08:27-05:00``."""
    return moment.astimezone(COLOMBIA).isoformat(timespec="seconds")


def status_object(status: str, reason, message: str, moment: datetime | None = None) -> dict:
    return {
        "status": status,
        "reason": reason,
        "message": message,
        "date": p2p_date(moment or now()),
    }


@dataclass
class Session:
    request_id: int
    slug: str
    token: str
    request: dict  # the create body minus auth, as received
    amount_cents: int
    currency: str
    expiration: datetime
    status: dict
    payments: list = field(default_factory=list)  # newest first, like the SDK fixture
    created_at: datetime = field(default_factory=now)

    @property
    def state(self) -> str:
        return self.status["status"]

    @property
    def final(self) -> bool:
        return self.state in ("APPROVED", "REJECTED")

    @property
    def pending_payment(self) -> dict | None:
        waiting = ("PENDING", "PENDING_VALIDATION")
        return next((p for p in self.payments if p["status"]["status"] in waiting), None)

    @property
    def reference(self) -> str:
        return self.request["payment"]["reference"]

    @property
    def return_url(self) -> str:
        return self.request["returnUrl"]

    def to_json(self, process_url: str) -> dict:
        shown = copy.deepcopy(self.request)
        shown["fields"] = [{"keyword": "_processUrl_", "value": process_url, "displayOn": "none"}]
        return {
            "requestId": self.request_id,
            "status": copy.deepcopy(self.status),
            "request": shown,
            "payment": copy.deepcopy(self.payments) or None,
            "subscription": None,
        }


_lock = threading.Lock()
_sessions: dict[int, Session] = {}
_nonces: dict[tuple[str, str], datetime] = {}
_notifications: list[dict] = []
_counter = {"next": int(time.time())}


def reset() -> None:
    with _lock:
        _sessions.clear()
        _nonces.clear()
        _notifications.clear()


def sessions() -> list[Session]:
    """Every session, newest first (copies)."""
    with _lock:
        found = [copy.deepcopy(s) for s in _sessions.values()]
    return sorted(found, key=lambda s: s.request_id, reverse=True)


def get(request_id: int) -> Session | None:
    with _lock:
        found = _sessions.get(request_id)
        return copy.deepcopy(found) if found else None


def notifications() -> list[dict]:
    """Every notification built so far (sent or not), oldest first: ``{url, body}``."""
    with _lock:
        return copy.deepcopy(_notifications)


def _add(session_factory) -> Session:
    with _lock:
        _counter["next"] += 1
        created = session_factory(_counter["next"])
        _sessions[created.request_id] = created
        return copy.deepcopy(created)


def _update(request_id: int, change) -> tuple[Session | None, bool]:
    """Apply ``change(session) -> bool`` under the lock; (copy, whether it became final)."""
    with _lock:
        found = _sessions.get(request_id)
        if found is None:
            return None, False
        was_final = found.final
        change(found)
        return copy.deepcopy(found), found.final and not was_final


def _expire_if_due(request_id: int) -> Session | None:
    """A pending session past its expiration, with nothing in progress, becomes REJECTED."""

    def expire(found: Session) -> None:
        if not found.final and found.pending_payment is None and now() >= found.expiration:
            # The real reason code for an expiry is UNCONFIRMED; XN is the documented "rejected".
            found.status = status_object("REJECTED", "XN", MESSAGES["session_expired"])

    found, became_final = _update(request_id, expire)
    if found is not None and became_final:
        _notify(found)
    return found


# --------------------------------------------------------------------------- authentication


def _failed(http: int, reason, message: str):
    return jsonify({"status": status_object("FAILED", reason, message)}), http


def _auth_failed(code: int):
    return _failed(401, 401, f"Authentication failed {code}")


def authenticate() -> tuple[Merchant | None, object]:
    """(merchant, body) for a well-authenticated JSON call, else (None, 401 response)."""
    if not request.is_json:
        return None, _failed(401, 401, "Malformed authentication")
    body = request.get_json(silent=True)
    auth = body.get("auth") if isinstance(body, dict) else None
    if not isinstance(auth, dict):
        return None, _auth_failed(100)
    values = {k: auth.get(k) for k in ("login", "tranKey", "nonce", "seed")}
    if not all(isinstance(v, str) and v for v in values.values()):
        return None, _auth_failed(100)
    merchant = registry().by_login.get(values["login"])
    if merchant is None:
        return None, _auth_failed(101)
    try:
        raw_nonce = base64.b64decode(values["nonce"], validate=True)
        seed = datetime.fromisoformat(values["seed"])
    except (binascii.Error, ValueError):
        return None, _auth_failed(100)
    if seed.tzinfo is None:
        return None, _auth_failed(100)
    algorithms = ["sha256"]
    if current_app.config.get("SANDBOX_PLACETOPAY_ACCEPT_SHA1", True):
        algorithms.append("sha1")
    text = raw_nonce + values["seed"].encode() + merchant.secret_key.encode()
    given = values["tranKey"].encode()
    if not any(
        hmac.compare_digest(given, base64.b64encode(hashlib.new(a, text).digest()))
        for a in algorithms
    ):
        return None, _auth_failed(102)
    moment = now()
    if abs(moment - seed) > SEED_TOLERANCE:
        return None, _auth_failed(103)
    key = (merchant.login, values["nonce"])
    with _lock:
        for old in [k for k, seen in _nonces.items() if moment - seen > NONCE_MEMORY]:
            del _nonces[old]
        if key in _nonces:
            return None, _auth_failed(107)
        _nonces[key] = moment
    return merchant, body


# --------------------------------------------------------------------------- create checks


def _cents(total) -> int | None:
    if isinstance(total, bool) or not isinstance(total, int | float):
        return None
    number = Decimal(total) if isinstance(total, int) else Decimal(repr(total))
    if not number.is_finite() or number <= 0:
        return None
    cents = number * 100
    return int(cents) if cents == cents.to_integral_value() else None


def _url(value, limit: int = 255) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= limit
        and bool(re.match(r"^https?://[^\s/]+\S*$", value))
    )


def _person_problem(person, kind: str) -> tuple[str, str] | None:
    """(reason, message) for a Person the real service would refuse, else None."""
    who = {"payer": "pagador", "buyer": "comprador"}[kind]
    # Documented for the payer only; what the real service says of a bad buyer is UNCONFIRMED.
    invalid = "payer_data_not_valid" if kind == "payer" else "BR"
    if not isinstance(person, dict):
        return "BR", f"Los datos del {who} ({kind}) deben ser un objeto"
    document, doc_type = person.get("document"), person.get("documentType")
    if document is not None or doc_type is not None:
        pattern = DOCUMENT_PATTERNS.get(doc_type)
        if doc_type not in DOCUMENT_TYPES or not isinstance(document, str) or len(document) > 25:
            return invalid, f"El documento del {who} no es válido"
        if pattern and not re.match(pattern, document):
            return invalid, f"El número de documento del {who} no es válido"
    for name in ("name", "surname", "company"):
        value = person.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > 60):
            return invalid, f"El campo {name} del {who} no es válido"
    email = person.get("email")
    bad_email = not isinstance(email, str) or len(email) > 80 or "@" not in email
    if email is not None and kind == "payer" and bad_email:
        return "payer_data_not_valid", "El correo del pagador no es válido"
    return None


def check_create(body: dict) -> tuple[int, str, str] | None:
    """(HTTP code, reason, message) for a create the emulator refuses, else None.

    The real service's code and reason for a failed validation are UNCONFIRMED: 400, ``BR``.
    """
    payment = body.get("payment")
    if not isinstance(payment, dict):
        return 400, "BR", "El campo payment es obligatorio"
    reference = payment.get("reference")
    if not isinstance(reference, str) or not 1 <= len(reference) <= 32:
        return 400, "BR", "La referencia debe tener entre 1 y 32 caracteres"
    description = payment.get("description")
    if not isinstance(description, str) or not 1 <= len(description) <= 255:
        return 400, "BR", "La descripción debe tener entre 1 y 255 caracteres"
    amount = payment.get("amount")
    if not isinstance(amount, dict) or amount.get("currency") not in ("COP", "USD"):
        return 400, "BR", "La moneda (amount.currency) no es válida"
    if _cents(amount.get("total")) is None:
        return 400, "BR", "El total (amount.total) debe ser un número positivo"
    if payment.get("allowPartial") not in (None, False):
        return 400, "BR", "El entorno de pruebas no admite pagos parciales"
    if not _url(body.get("returnUrl")):
        return 400, "BR", "La URL de retorno (returnUrl) no es válida"
    if body.get("cancelUrl") is not None and not _url(body.get("cancelUrl")):
        return 400, "BR", "La URL de cancelación (cancelUrl) no es válida"
    try:
        ip = body.get("ipAddress")
        if not isinstance(ip, str) or len(ip) > 46:
            raise ValueError
        ipaddress.ip_address(ip)
    except ValueError:
        return 400, "BR", "La dirección IP (ipAddress) no es válida"
    agent = body.get("userAgent")
    if not isinstance(agent, str) or not agent or len(agent) > 255:
        return 400, "BR", "El agente de usuario (userAgent) no es válido"
    expiration = body.get("expiration")
    if expiration is not None:
        try:
            moment = datetime.fromisoformat(expiration) if isinstance(expiration, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            return 400, "BR", "La fecha de expiración no es válida (ISO 8601 con zona)"
        if moment - now() < EXPIRATION_MIN - timedelta(seconds=5):
            return 400, "BR", "La expiración debe ser al menos 5 minutos después de la creación"
    locale = body.get("locale")
    if locale is not None and not re.match(r"^[a-z]{2}_[A-Z]{2}$", str(locale)):
        return 400, "BR", "El idioma (locale) no es válido"
    methods = body.get("paymentMethod")
    if methods is not None:
        codes = methods.split(",") if isinstance(methods, str) else [None]
        if not all(c in KNOWN_METHODS for c in codes):
            return 400, "BR", "El medio de pago (paymentMethod) no es válido"
    for kind in ("payer", "buyer"):
        if body.get(kind) is not None:
            problem = _person_problem(body[kind], kind)
            if problem:
                return 400, problem[0], problem[1]
    return None


# --------------------------------------------------------------------------- API


def process_url(found: Session) -> str:
    base = str(current_app.config["SANDBOX_BASE_URL"]).rstrip("/")
    return base + url_for(
        "sandbox_placetopay.session_page", request_id=found.request_id, token=found.token
    )


@api_bp.post("/session")
def create_session():
    merchant, body = authenticate()
    if merchant is None:
        return body
    problem = check_create(body)
    if problem:
        return _failed(*problem)
    request_body = {k: copy.deepcopy(v) for k, v in body.items() if k != "auth"}
    expiration = body.get("expiration")
    expires = datetime.fromisoformat(expiration) if expiration else now() + DEFAULT_EXPIRATION
    payment = body["payment"]

    def new_session(request_id: int) -> Session:
        return Session(
            request_id=request_id,
            slug=merchant.slug,
            token=secrets.token_hex(16),
            request=request_body,
            amount_cents=_cents(payment["amount"]["total"]),
            currency=payment["amount"]["currency"],
            expiration=expires,
            status=status_object("PENDING", "PT", MESSAGES["session_pending"]),
        )

    created = _add(new_session)
    return jsonify(
        {
            "status": status_object("OK", "PC", "La petición se ha creado exitosamente"),
            "requestId": created.request_id,
            "processUrl": process_url(created),
        }
    )


def _own_session(merchant: Merchant, request_id: int) -> Session | None:
    found = _expire_if_due(request_id)
    if found is None or found.slug != merchant.slug:
        return None
    return found


@api_bp.post("/session/<int:request_id>")
def query_session(request_id: int):
    merchant, body = authenticate()
    if merchant is None:
        return body
    found = _own_session(merchant, request_id)
    if found is None:
        return _failed(404, "request_not_valid", "La petición no existe o no es válida")
    return jsonify(found.to_json(process_url(found)))


@api_bp.post("/session/<int:request_id>/cancel")
def cancel_session(request_id: int):
    merchant, body = authenticate()
    if merchant is None:
        return body
    found = _own_session(merchant, request_id)
    if found is None:
        return _failed(404, "request_not_valid", "La petición no existe o no es válida")
    refused = []

    def cancel(session: Session) -> None:
        if session.final or session.pending_payment is not None:
            refused.append(True)
            return
        session.status = status_object("REJECTED", "MC", MESSAGES["merchant_cancelled"])

    found, became_final = _update(request_id, cancel)
    if refused:
        return _failed(400, "action_not_allowed", "La petición no se puede cancelar")
    if became_final:
        _notify(found)
    return jsonify({"status": status_object("OK", "00", MESSAGES["merchant_cancelled"])})


# --------------------------------------------------------------------------- payments


def _internal_reference() -> int:
    return random.randint(1_500_000_000, 1_599_999_999)


def _money_fields(cents: int, currency: str, as_text: bool) -> dict:
    if as_text:
        total = f"{Decimal(cents) / 100:.2f}"  # the SDK fixture's PSE shape: "1000000.00"
    else:
        total = cents // 100 if cents % 100 == 0 else float(Decimal(cents) / 100)
    side = {"currency": currency, "total": total}
    return {"from": dict(side), "to": dict(side), "factor": 1}


def new_payment(found: Session, method: dict, state: str) -> dict:
    """A transaction as the query shows it; ``state`` APPROVED, REJECTED or PENDING."""
    internal = _internal_reference()
    if method["type"] == "pse":
        reasons = {"APPROVED": "00", "REJECTED": "XN", "PENDING": "?-"}
        messages = {"APPROVED": "approved", "REJECTED": "rejected", "PENDING": "pending_bank"}
        cus = str(random.randint(1_000_000, 99_999_999))
        payment = {
            "status": status_object(state, reasons[state], MESSAGES[messages[state]]),
            "internalReference": internal,
            "paymentMethod": "pse",
            "paymentMethodName": PSE_NAME,
            "issuerName": method["bank"],
            "amount": _money_fields(found.amount_cents, found.currency, as_text=True),
            "authorization": cus,
            "reference": found.reference,
            "receipt": str(internal),
            "franchise": "_PSE_",
            "refunded": False,
            "processorFields": [
                {"keyword": "merchantCode", "value": "9002992280", "displayOn": "none"},
                {"keyword": "terminalNumber", "value": "001", "displayOn": "none"},
                {"keyword": "transactionCycle", "value": "1", "displayOn": "none"},
                {"keyword": "trazabilyCode", "value": cus, "displayOn": "none"},
                {"keyword": "personType", "value": method["person_type"], "displayOn": "none"},
            ],
        }
        return payment
    code, name, franchise = method["brand"]
    if state == "PENDING":
        state, reason, message = "PENDING_VALIDATION", "?*", MESSAGES["pending_validation"]
    else:
        reason = "00" if state == "APPROVED" else "XN"
        message = MESSAGES["approved" if state == "APPROVED" else "rejected"]
    return {
        "status": status_object(state, reason, message),
        "internalReference": internal,
        "paymentMethod": code,
        "paymentMethodName": name,
        "issuerName": "BANCO DE PRUEBAS",
        "amount": _money_fields(found.amount_cents, found.currency, as_text=False),
        "authorization": f"{random.randint(0, 999_999):06d}" if state == "APPROVED" else "000000",
        "reference": found.reference,
        "receipt": random.randint(10_000_000, 99_999_999),
        "franchise": franchise,
        "refunded": False,
        "processorFields": [
            {"keyword": "lastDigits", "value": f"****{method['last_four']}", "displayOn": "none"},
            {"keyword": "installments", "value": 1, "displayOn": "none"},
        ],
    }


def _settle_session(session: Session, state: str) -> None:
    """The session status after a transaction reached ``state``."""
    if state == "APPROVED":
        session.status = status_object("APPROVED", "00", MESSAGES["session_approved"])
    elif state == "REJECTED":
        session.status = status_object("REJECTED", "XN", MESSAGES["session_rejected"])


def pay(request_id: int, method: dict, decision: str) -> tuple[Session | None, bool]:
    """The payer's decision on the session page: a new transaction, maybe a final status."""

    def apply(session: Session) -> None:
        if session.final or session.pending_payment is not None:
            return
        session.payments.insert(0, new_payment(session, method, decision))
        _settle_session(session, decision)

    return _update(request_id, apply)


def resolve_pending(request_id: int, decision: str) -> tuple[Session | None, bool]:
    """The bank (or the card validation) decides a pending transaction later."""

    def apply(session: Session) -> None:
        waiting = session.pending_payment
        if session.final or waiting is None:
            return
        reason = "00" if decision == "APPROVED" else "XN"
        message = MESSAGES["approved" if decision == "APPROVED" else "rejected"]
        waiting["status"] = status_object(decision, reason, message)
        _settle_session(session, decision)

    return _update(request_id, apply)


def payer_cancel(request_id: int) -> tuple[Session | None, bool]:
    def apply(session: Session) -> None:
        if session.final or session.pending_payment is not None:
            return
        session.status = status_object("REJECTED", "?C", MESSAGES["payer_cancelled"])

    return _update(request_id, apply)


# --------------------------------------------------------------------------- notifications


def sign(request_id: int, status: str, date: str, secret_key: str, algorithm: str) -> str:
    text = f"{request_id}{status}{date}{secret_key}".encode()
    if algorithm == "sha1":
        return hashlib.sha1(text).hexdigest()  # noqa: S324 - PlacetoPay's legacy format
    return "sha256:" + hashlib.sha256(text).hexdigest()


def notification_url(app: Flask, slug: str) -> str:
    base = str(app.config["SANDBOX_BASE_URL"]).rstrip("/")
    template = app.config.get("SANDBOX_PLACETOPAY_NOTIFICATION_URL") or (
        "{base}/{slug}/webhooks/placetopay"
    )
    return template.format(base=base, slug=slug)


def build_notification(found: Session, merchant: Merchant, algorithm: str) -> dict:
    status = copy.deepcopy(found.status)
    return {
        "status": status,
        "requestId": found.request_id,
        "reference": found.reference,
        "signature": sign(
            found.request_id, status["status"], status["date"], merchant.secret_key, algorithm
        ),
    }


def _notify(found: Session) -> threading.Thread | None:
    """Record the notification and, unless SANDBOX_SEND_EVENTS is off, send it."""
    app = current_app._get_current_object()
    merchant = registry(app).by_slug.get(found.slug)
    if merchant is None:
        log.error("sandbox placetopay: no site %r for session %s", found.slug, found.request_id)
        return None
    algorithm = app.config.get("SANDBOX_PLACETOPAY_SIGNATURE", "sha256")
    url = notification_url(app, found.slug)
    body = build_notification(found, merchant, algorithm)
    with _lock:
        _notifications.append({"url": url, "body": copy.deepcopy(body)})
    if not app.config.get("SANDBOX_SEND_EVENTS", True):
        return None
    delay = float(app.config.get("SANDBOX_EVENT_DELAY_SECONDS", 0.5))
    backoff = float(app.config.get("SANDBOX_EVENT_BACKOFF_SECONDS", 0.5))
    retries = int(app.config.get("SANDBOX_PLACETOPAY_NOTIFICATION_RETRIES", 0))
    thread = threading.Thread(
        target=_deliver,
        args=(url, body, delay, backoff, retries),
        name=f"sandbox-placetopay-{found.request_id}",
        daemon=True,
    )
    # Joined by gaspay.sandbox.wait_for_events, with the Wompi events.
    with events._threads_lock:
        events._threads[:] = [t for t in events._threads if t.is_alive()]
        events._threads.append(thread)
    thread.start()
    return thread


def _deliver(url: str, body: dict, delay: float, backoff: float, retries: int) -> None:
    """Never raises: failures are logged. Sent once unless ``retries`` says otherwise."""
    try:
        time.sleep(delay)
        payload = json.dumps(body)
        headers = {"Content-Type": "application/json"}
        request_id = body["requestId"]
        for attempt in range(retries + 1):
            try:
                response = requests.post(
                    url, data=payload, headers=headers, timeout=NOTIFICATION_TIMEOUT_SECONDS
                )
            except requests.RequestException as exc:
                log.warning("sandbox placetopay %s to %s failed: %s", request_id, url, exc)
            else:
                if 200 <= response.status_code < 300:
                    log.info("sandbox placetopay %s delivered to %s", request_id, url)
                    return
                log.warning(
                    "sandbox placetopay %s to %s: HTTP %s", request_id, url, response.status_code
                )
            if attempt < retries:
                time.sleep(backoff * 2**attempt)
        log.error("sandbox placetopay %s to %s not delivered (sent once)", request_id, url)
    except Exception:
        log.exception("sandbox placetopay notification to %s crashed", url)


# --------------------------------------------------------------------------- pages


def money(cents: int, currency: str) -> str:
    pesos, rest = divmod(int(cents), 100)
    text = f"{pesos:,}".replace(",", ".")
    amount = f"$ {text},{rest:02d}" if rest else f"$ {text}"
    return amount if currency == "COP" else f"{amount} {currency}"


def allowed_methods(found: Session) -> tuple[bool, bool]:
    """(PSE offered, card offered) under the session's ``paymentMethod`` restriction."""
    methods = found.request.get("paymentMethod")
    if not methods:
        return True, True
    codes = set(methods.split(","))
    return bool(codes & {"pse", "_PSE_"}), bool(codes & CARD_CODES)


def page_context(found: Session) -> dict:
    merchant = registry().by_slug.get(found.slug)
    return {
        "checkout_session": found,
        "merchant_name": merchant.name if merchant else found.slug,
        "amount": money(found.amount_cents, found.currency),
        "status_label": STATUS_LABELS.get(found.state, found.state),
        "labels": STATUS_LABELS,
        "cancel_url": found.request.get("cancelUrl") or found.return_url,
        "expires": found.expiration.astimezone(COLOMBIA).strftime("%d/%m/%Y %H:%M"),
    }


def _page_session(request_id: int, token: str) -> Session:
    found = _expire_if_due(request_id)
    if found is None or not hmac.compare_digest(found.token.encode(), token.encode()):
        abort(404)
    return found


def result_page(found: Session, status: int = 200):
    return render_template("sandbox/placetopay_result.html", **page_context(found)), status


def back_to_merchant(found: Session):
    if found.request.get("skipResult"):
        return redirect(found.return_url, code=303)
    return result_page(found)


def form_errors(form, offers_pse: bool, offers_card: bool) -> tuple[dict, dict | None]:
    errors: dict[str, str] = {}
    method = form.get("method")
    if method == "pse" and offers_pse:
        bank = dict(PSE_BANKS).get(form.get("bank", ""))
        if bank is None:
            errors["bank"] = "Seleccione su banco."
        if form.get("person_type") not in ("natural", "juridica"):
            errors["person_type"] = "Seleccione el tipo de persona."
        return errors, {"type": "pse", "bank": bank, "person_type": form.get("person_type")}
    if method == "card" and offers_card:
        digits = re.sub(r"[\s-]", "", form.get("card_number", ""))
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            errors["card_number"] = "Escriba el número de la tarjeta (solo números)."
            return errors, None
        brand = CARD_BRANDS.get(digits[0], ("visa", "Visa", "CR_VS"))
        return errors, {"type": "card", "brand": brand, "last_four": digits[-4:]}
    errors["method"] = "Elija un medio de pago."
    return errors, None


@bp.errorhandler(404)
def unknown(_error):
    return render_template("sandbox/not_found.html"), 404


@bp.route("/session/<int:request_id>/<token>", methods=["GET", "POST"])
def session_page(request_id: int, token: str):
    found = _page_session(request_id, token)
    if found.final or found.pending_payment is not None:
        return result_page(found)
    offers_pse, offers_card = allowed_methods(found)
    context = page_context(found)
    context.update(offers_pse=offers_pse, offers_card=offers_card, banks=PSE_BANKS)
    if request.method == "GET":
        return render_template("sandbox/placetopay_session.html", form={}, errors={}, **context)
    form = request.form
    errors, method = form_errors(form, offers_pse, offers_card)
    decision = form.get("decision")
    if decision not in ("APPROVED", "REJECTED", "PENDING"):
        errors["decision"] = "Elija el resultado del pago."
    if errors:
        kept = {k: v for k, v in form.items() if k != "card_number"}
        return (
            render_template("sandbox/placetopay_session.html", form=kept, errors=errors, **context),
            400,
        )
    found, became_final = pay(request_id, method, decision)
    if became_final:
        _notify(found)
    return back_to_merchant(found)


@bp.post("/session/<int:request_id>/<token>/cancelar")
def session_cancel(request_id: int, token: str):
    found = _page_session(request_id, token)
    found, became_final = payer_cancel(found.request_id)
    if became_final:
        _notify(found)
        return redirect(found.request.get("cancelUrl") or found.return_url, code=303)
    return result_page(found)


@bp.get("/")
def index():
    for found in sessions():
        _expire_if_due(found.request_id)
    rows = [(s, page_context(s)) for s in sessions()]
    return render_template("sandbox/placetopay_index.html", rows=rows)


@bp.post("/sesiones/<int:request_id>")
def decide_later(request_id: int):
    decision = request.form.get("decision")
    if decision not in ("APPROVED", "REJECTED") or get(request_id) is None:
        abort(404)
    found, became_final = resolve_pending(request_id, decision)
    if became_final:
        _notify(found)
    return redirect(url_for("sandbox_placetopay.index"), code=303)


def register(app: Flask, tenants: dict) -> None:
    """Called by ``register_sandbox``: the sites, the CSRF-exempt API, the pages."""
    from gaspay.extensions import csrf

    app.config.setdefault("SANDBOX_PLACETOPAY_ACCEPT_SHA1", True)
    app.config.setdefault("SANDBOX_PLACETOPAY_SIGNATURE", "sha256")
    app.config.setdefault("SANDBOX_PLACETOPAY_NOTIFICATION_RETRIES", 0)
    app.extensions[EXTENSION] = build_registry(tenants)
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(bp)
