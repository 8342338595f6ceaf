"""The emulated Web Checkout: GET /sandbox/wompi/checkout/p/ with Wompi's form fields."""

from __future__ import annotations

import re
import secrets

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from gaspay.sandbox import flow, store
from gaspay.sandbox.merchants import (
    BANK_NAMES,
    BANKS,
    Merchant,
    integrity_signature,
    registry,
    signature_matches,
)
from gaspay.sandbox.validation import EMAIL_RE, LEGAL_ID_RE, parse_expiration

bp = Blueprint("sandbox_checkout", __name__, url_prefix="/sandbox/wompi/checkout")

REQUIRED = ("public-key", "currency", "amount-in-cents", "reference", "signature:integrity")
OPTIONAL = (
    "redirect-url",
    "expiration-time",
    "tax-in-cents:vat",
    "tax-in-cents:consumption",
    "customer-data:email",
    "customer-data:full-name",
    "customer-data:phone-number",
    "customer-data:phone-number-prefix",
    "customer-data:legal-id",
    "customer-data:legal-id-type",
)
CARD_OUTCOMES = {"4242424242424242": "APPROVED", "4111111111111111": "DECLINED"}
NEQUI_OUTCOMES = {"3991111111": "APPROVED", "3992222222": "DECLINED"}
LEGAL_ID_TYPES = ("CC", "CE", "NIT", "PP", "TI")
SESSION_MAX_AGE = 3600


class CheckoutError(Exception):
    """The checkout cannot open; the message is shown to the payer."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="gaspay.sandbox.checkout")


def check(params: dict) -> Merchant:
    """Wompi's checks on the form: fields, merchant, amount, integrity, expiry, paid reference."""
    for name in REQUIRED:
        if not params.get(name):
            raise CheckoutError(f"Falta el parámetro obligatorio «{name}».")
    merchant = registry().by_public.get(params["public-key"])
    if merchant is None:
        raise CheckoutError("La llave pública no corresponde a ningún comercio.")
    if params["currency"] != "COP":
        raise CheckoutError("Moneda no soportada: solo se aceptan pagos en COP.")
    amount = params["amount-in-cents"]
    if not amount.isdigit() or int(amount) <= 0:
        raise CheckoutError("El monto (amount-in-cents) debe ser un número entero positivo.")
    expiration = params.get("expiration-time")
    expected = integrity_signature(
        params["reference"], amount, "COP", expiration, merchant.integrity_secret
    )
    if not signature_matches(params["signature:integrity"], expected):
        raise CheckoutError("La firma de integridad no es válida.")
    if expiration:
        moment = parse_expiration(expiration)
        if moment is None:
            raise CheckoutError("La fecha de expiración (expiration-time) no es válida.")
        if moment <= store.now():
            raise CheckoutError("El tiempo para realizar este pago ya expiró.")
    redirect_url = params.get("redirect-url")
    if redirect_url and not re.match(r"^https?://[^\s/]+", redirect_url):
        raise CheckoutError("La URL de redirección (redirect-url) no es válida.")
    for tax in ("tax-in-cents:vat", "tax-in-cents:consumption"):
        if params.get(tax) and not params[tax].isdigit():
            raise CheckoutError(f"El impuesto ({tax}) debe ser un número entero.")
    if any(t.status == "APPROVED" for t in store.find(merchant.public_key, params["reference"])):
        raise CheckoutError("Esta referencia ya tiene un pago aprobado.")
    return merchant


def error_page(message: str):
    return render_template("sandbox/checkout_error.html", message=message), 400


def form_page(params: dict, merchant: Merchant, form=None, errors=None, status: int = 200):
    context = {
        "merchant_name": merchant.name,
        "reference": params["reference"],
        "amount": flow.money(int(params["amount-in-cents"])),
        "vat": flow.money(int(params["tax-in-cents:vat"]))
        if params.get("tax-in-cents:vat")
        else None,
        "token": _serializer().dumps(params),
        "banks": BANKS,
        "legal_id_types": LEGAL_ID_TYPES,
        "form": form
        or {
            "customer_email": params.get("customer-data:email", ""),
            "user_legal_id": params.get("customer-data:legal-id", ""),
            "user_legal_id_type": params.get("customer-data:legal-id-type", "CC"),
            "phone_number": params.get("customer-data:phone-number", ""),
            "user_type": "0",
        },
        "errors": errors or {},
    }
    return render_template("sandbox/checkout.html", **context), status


@bp.get("/p/")
def start():
    params = {k: request.args[k] for k in REQUIRED + OPTIONAL if request.args.get(k)}
    try:
        merchant = check(params)
    except CheckoutError as exc:
        return error_page(str(exc))
    return form_page(params, merchant)


def method_errors(form) -> tuple[dict, dict | None, str | None]:
    """(errors, payment_method, outcome); outcome None means the PSE pages decide."""
    errors: dict[str, str] = {}
    if not EMAIL_RE.match(form.get("customer_email", "").strip()):
        errors["customer_email"] = "Escriba un correo electrónico válido."
    method = form.get("method")
    extra = {"is_three_ds": False}
    if method == "CARD":
        digits = re.sub(r"[\s-]", "", form.get("card_number", ""))
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            errors["card_number"] = "Escriba el número de la tarjeta (solo números)."
            return errors, None, None
        brand = {"4": "VISA", "5": "MASTERCARD", "3": "AMEX"}.get(digits[0], "OTHER")
        extra.update(brand=brand, last_four=digits[-4:], name=f"{brand}-{digits[-4:]}")
        payment = {"type": "CARD", "installments": 1, "extra": extra}
        return errors, payment, CARD_OUTCOMES.get(digits, "ERROR")
    if method == "NEQUI":
        phone = re.sub(r"\s", "", form.get("phone_number", ""))
        if not re.fullmatch(r"3\d{9}", phone):
            errors["phone_number"] = "Escriba un celular de 10 dígitos que empiece por 3."
            return errors, None, None
        payment = {"type": "NEQUI", "phone_number": phone, "extra": extra}
        return errors, payment, NEQUI_OUTCOMES.get(phone, "ERROR")
    if method == "PSE":
        code = form.get("financial_institution_code", "")
        if code not in BANK_NAMES:
            errors["financial_institution_code"] = "Seleccione su banco."
        if form.get("user_type") not in ("0", "1"):
            errors["user_type"] = "Seleccione el tipo de persona."
        id_type = form.get("user_legal_id_type", "")
        if id_type not in LEGAL_ID_TYPES:
            errors["user_legal_id_type"] = "Seleccione el tipo de documento."
        elif form.get("user_type") == "1" and id_type != "NIT":
            errors["user_legal_id_type"] = "Una persona jurídica se identifica con NIT."
        legal_id = form.get("user_legal_id", "").strip()
        if not LEGAL_ID_RE.match(legal_id):
            errors["user_legal_id"] = "Escriba el número de documento."
        payment = {
            "type": "PSE",
            "user_type": int(form.get("user_type") or 0),
            "user_legal_id_type": id_type,
            "user_legal_id": legal_id,
            "financial_institution_code": code,
            "extra": {**extra, "ticket_id": secrets.token_hex(8)},
        }
        return errors, payment, None
    errors["method"] = "Elija un medio de pago."
    return errors, None, None


def customer_data(params: dict) -> dict | None:
    names = ("full-name", "phone-number", "phone-number-prefix", "legal-id", "legal-id-type")
    data = {
        n.replace("-", "_"): params[f"customer-data:{n}"]
        for n in names
        if params.get(f"customer-data:{n}")
    }
    return data or None


def taxes(params: dict) -> list[dict]:
    kinds = (("tax-in-cents:vat", "VAT"), ("tax-in-cents:consumption", "CONSUMPTION"))
    return [{"type": t, "amount_in_cents": int(params[k])} for k, t in kinds if params.get(k)]


@bp.post("/pagar")
def pay():
    try:
        params = _serializer().loads(request.form.get("checkout", ""), max_age=SESSION_MAX_AGE)
        merchant = check(params)
    except BadSignature:
        return error_page("La sesión de pago no es válida o expiró. Vuelva al comercio.")
    except CheckoutError as exc:
        return error_page(str(exc))
    errors, payment, outcome = method_errors(request.form)
    if errors:
        form = {k: v for k, v in request.form.items() if k != "card_number"}
        return form_page(params, merchant, form, errors, 400)
    if payment["type"] == "PSE":
        payment["payment_description"] = f"Pago {params['reference']}"[:30]
    txn = store.Transaction(
        id=store.new_id(merchant.number),
        slug=merchant.slug,
        merchant_key=merchant.public_key,
        reference=params["reference"],
        amount_in_cents=int(params["amount-in-cents"]),
        currency="COP",
        customer_email=request.form["customer_email"].strip(),
        payment_method=payment,
        origin="checkout",
        redirect_url=params.get("redirect-url"),
        customer_data=customer_data(params),
        taxes=taxes(params),
    )
    store.add(txn)
    if outcome is None:
        url = flow.absolute("sandbox.pse", txn_id=txn.id)

        def show_bank_url(t: store.Transaction) -> None:
            t.async_url, t.async_visible = url, True

        store.update(txn.id, show_bank_url)
        return redirect(url_for("sandbox.pse", txn_id=txn.id), code=303)
    return flow.back_to_merchant(flow.decide(txn.id, outcome))
