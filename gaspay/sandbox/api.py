"""The emulated Wompi JSON API under /sandbox/wompi/v1 (CSRF-exempt, like the real one)."""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, jsonify, request

from gaspay.sandbox import flow, store
from gaspay.sandbox.merchants import (
    BANKS,
    END_USER_POLICY,
    PERSONAL_DATA_AUTH,
    issue_acceptance_token,
    registry,
)
from gaspay.sandbox.validation import validate_create

bp = Blueprint("sandbox_api", __name__, url_prefix="/sandbox/wompi/v1")


def ok(data, status: int = 200):
    return jsonify({"data": data, "meta": {}}), status


def not_found(reason: str):
    return jsonify({"error": {"type": "NOT_FOUND_ERROR", "reason": reason}}), 404


def unauthorized(reason: str):
    return jsonify({"error": {"type": "INVALID_ACCESS_TOKEN", "reason": reason}}), 401


def invalid(messages: dict[str, list[str]]):
    body = {"error": {"type": "INPUT_VALIDATION_ERROR", "messages": messages}}
    return jsonify(body), 422


def bearer(kinds: tuple[str, ...]):
    """(merchant, None) for an accepted key, else (None, 401 response)."""
    header = request.headers.get("Authorization")
    if not header:
        return None, unauthorized("Falta la llave de autenticación (Authorization: Bearer)")
    merchant, kind = registry().from_bearer(header)
    if merchant is None:
        return None, unauthorized("La llave de autenticación no es válida")
    if kind not in kinds:
        return None, unauthorized(f"Se necesita la llave {' o '.join(kinds)}")
    return merchant, None


@bp.get("/merchants/<public_key>")
def merchant_info(public_key: str):
    merchant = registry().by_public.get(public_key)
    if merchant is None:
        return not_found("El comercio no existe o la llave pública no es válida")
    return ok(
        {
            "id": merchant.number,
            "name": merchant.name,
            "email": f"pagos@{merchant.slug}.test",
            "legal_id_type": "NIT",
            "public_key": merchant.public_key,
            "accepted_currencies": ["COP"],
            "accepted_payment_methods": ["CARD", "NEQUI", "PSE"],
            "presigned_acceptance": {
                "acceptance_token": issue_acceptance_token(merchant, END_USER_POLICY),
                "permalink": flow.absolute("sandbox.legal_terms"),
                "type": END_USER_POLICY,
            },
            "presigned_personal_data_auth": {
                "acceptance_token": issue_acceptance_token(merchant, PERSONAL_DATA_AUTH),
                "permalink": flow.absolute("sandbox.legal_data"),
                "type": PERSONAL_DATA_AUTH,
            },
        }
    )


@bp.get("/pse/financial_institutions")
def financial_institutions():
    _, error = bearer(("public", "private"))
    if error:
        return error
    return ok(
        [{"financial_institution_code": c, "financial_institution_name": n} for c, n in BANKS]
    )


@bp.post("/transactions")
def create_transaction():
    merchant, error = bearer(("public", "private"))
    if error:
        return error
    body = request.get_json(silent=True)
    errors = validate_create(body, merchant, store.now())
    if errors:
        return invalid(errors)
    method = dict(body["payment_method"])
    method["extra"] = {"is_three_ds": False, "ticket_id": secrets.token_hex(8)}
    txn = store.Transaction(
        id=store.new_id(merchant.number),
        slug=merchant.slug,
        merchant_key=merchant.public_key,
        reference=body["reference"],
        amount_in_cents=body["amount_in_cents"],
        currency=body["currency"],
        customer_email=body["customer_email"],
        payment_method=method,
        origin="api",
        redirect_url=body.get("redirect_url"),
        customer_data=body.get("customer_data"),
    )
    if not store.add(txn, unique_reference=True):
        return invalid({"reference": ["La referencia ya fue usada por otra transacción"]})
    url = flow.absolute("sandbox.pse", txn_id=txn.id)  # txn.id is final once stored
    created = store.update(txn.id, lambda t: setattr(t, "async_url", url))
    return ok(created.to_json(), 201)


@bp.get("/transactions/<txn_id>")
def get_transaction(txn_id: str):
    delay = float(current_app.config.get("SANDBOX_ASYNC_URL_DELAY_SECONDS", 0.3))
    txn = store.poll(txn_id, delay)
    if txn is None:
        return not_found("La transacción no existe")
    return ok(txn.to_json())


@bp.get("/transactions")
def list_transactions():
    merchant, error = bearer(("private",))
    if error:
        return error
    reference = request.args.get("reference", "")
    if not reference:
        return invalid({"reference": ["Este campo es requerido"]})
    return ok([t.to_json() for t in store.find(merchant.public_key, reference)])
