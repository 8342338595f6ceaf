"""`POST /transactions` body checks, with Wompi's 422 field messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from gaspay.sandbox.merchants import (
    BANK_NAMES,
    END_USER_POLICY,
    PERSONAL_DATA_AUTH,
    Merchant,
    acceptance_token_valid,
    integrity_signature,
    signature_matches,
)

REQUIRED = "Este campo es requerido"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LEGAL_ID_RE = re.compile(r"^[0-9A-Za-z-]{3,20}$")
LEGAL_ID_TYPES = {"CC", "CE", "NIT", "PP", "TI", "DNI", "RG", "OTHER"}
MAX_DESCRIPTION = 30


def parse_expiration(value: object) -> datetime | None:
    """ISO 8601 (`2023-06-09T20:28:50.000Z`); naive values are UTC. None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_http_url(value: object) -> bool:
    return isinstance(value, str) and bool(re.match(r"^https?://[^\s/]+", value))


def _text(body: dict, key: str, errors: dict) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        errors[key] = [REQUIRED]
        return None
    if not isinstance(value, str):
        errors[key] = ["Debe ser un texto"]
        return None
    return value


def _pse_method(method: object, errors: dict) -> None:
    if not isinstance(method, dict):
        errors["payment_method"] = [REQUIRED]
        return
    if method.get("type") != "PSE":
        errors["payment_method.type"] = ["El entorno de pruebas solo crea transacciones PSE"]
        return
    user_type = method.get("user_type")
    if type(user_type) is not int or user_type not in (0, 1):
        errors["payment_method.user_type"] = ["Debe ser 0 (persona natural) o 1 (jurídica)"]
    id_type = method.get("user_legal_id_type")
    if id_type not in LEGAL_ID_TYPES:
        errors["payment_method.user_legal_id_type"] = ["Tipo de documento no válido"]
    elif user_type == 1 and id_type != "NIT":
        errors["payment_method.user_legal_id_type"] = ["Una persona jurídica se identifica con NIT"]
    legal_id = method.get("user_legal_id")
    if not isinstance(legal_id, str) or not LEGAL_ID_RE.match(legal_id):
        errors["payment_method.user_legal_id"] = ["Número de documento no válido"]
    code = method.get("financial_institution_code")
    if not isinstance(code, str) or code not in BANK_NAMES:
        errors["payment_method.financial_institution_code"] = ["Entidad financiera no válida"]
    description = method.get("payment_description")
    if not isinstance(description, str) or not description.strip():
        errors["payment_method.payment_description"] = [REQUIRED]
    elif len(description) > MAX_DESCRIPTION:
        errors["payment_method.payment_description"] = [f"Máximo {MAX_DESCRIPTION} caracteres"]


def validate_create(body: object, merchant: Merchant, now: datetime) -> dict[str, list[str]]:
    """Every problem of a creation body, by field (empty when it can be created)."""
    if not isinstance(body, dict):
        return {"body": ["Se esperaba un objeto JSON"]}
    errors: dict[str, list[str]] = {}
    amount = body.get("amount_in_cents")
    if amount is None:
        errors["amount_in_cents"] = [REQUIRED]
    elif type(amount) is not int or amount <= 0:
        errors["amount_in_cents"] = ["Debe ser un número entero mayor que 0"]
    currency = body.get("currency")
    if currency != "COP":
        errors["currency"] = [REQUIRED if currency is None else "Moneda no soportada: use COP"]
    reference = _text(body, "reference", errors)
    signature = _text(body, "signature", errors)
    email = _text(body, "customer_email", errors)
    if email and not EMAIL_RE.match(email):
        errors["customer_email"] = ["Correo electrónico no válido"]
    for key, kind in (
        ("acceptance_token", END_USER_POLICY),
        ("accept_personal_auth", PERSONAL_DATA_AUTH),
    ):
        token = body.get(key)
        if not token:
            errors[key] = [REQUIRED]
        elif not acceptance_token_valid(token, merchant, kind):
            errors[key] = ["El token de aceptación no es válido o ya expiró"]
    redirect_url = body.get("redirect_url")
    if redirect_url is not None and not is_http_url(redirect_url):
        errors["redirect_url"] = ["Debe ser una URL http(s) absoluta"]
    customer_data = body.get("customer_data")
    if customer_data is not None and not isinstance(customer_data, dict):
        errors["customer_data"] = ["Debe ser un objeto"]
    method_type = body.get("payment_method_type")
    if method_type is not None and method_type != "PSE":
        errors["payment_method_type"] = ["El entorno de pruebas solo crea transacciones PSE"]
    _pse_method(body.get("payment_method"), errors)
    expiration = body.get("expiration_time")
    if expiration is not None:
        moment = parse_expiration(expiration)
        if moment is None:
            errors["expiration_time"] = ["Fecha no válida (ISO 8601)"]
        elif moment <= now:
            errors["expiration_time"] = ["La fecha de expiración ya pasó"]
    if not errors and signature and reference:
        expected = integrity_signature(
            reference, amount, currency, expiration, merchant.integrity_secret
        )
        if not signature_matches(signature, expected):
            errors["signature"] = ["La firma es inválida"]
    return errors
