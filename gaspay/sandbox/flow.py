"""What every decision does (status, CUS, event) and where the browser goes afterwards."""

from __future__ import annotations

import logging
import random
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app, redirect, render_template, url_for

from gaspay.sandbox import events, store
from gaspay.sandbox.merchants import BANK_NAMES, registry

log = logging.getLogger(__name__)

MESSAGES = {
    ("PSE", "DECLINED"): "La entidad financiera rechazó la transacción",
    ("PSE", "PENDING"): "Transacción pendiente de confirmación por parte de la entidad financiera",
    ("CARD", "DECLINED"): "Transacción rechazada por el emisor de la tarjeta",
    ("CARD", "ERROR"): "Tarjeta no válida en el entorno de pruebas",
    ("NEQUI", "DECLINED"): "El usuario de Nequi rechazó el pago",
    ("NEQUI", "ERROR"): "Número de celular no válido en el entorno de pruebas",
}
STATUS_LABELS = {
    "PENDING": "Pendiente",
    "APPROVED": "Aprobada",
    "DECLINED": "Rechazada",
    "ERROR": "Error",
    "VOIDED": "Anulada",
}


def base_url() -> str:
    return str(current_app.config["SANDBOX_BASE_URL"]).rstrip("/")


def absolute(endpoint: str, **values) -> str:
    """A browser URL on the sandbox, from the configured base (what the app was told)."""
    return base_url() + url_for(endpoint, **values)


def money(cents: int) -> str:
    """`1800000` -> `$ 18.000` (es-CO: dot for thousands, comma for decimals)."""
    pesos, rest = divmod(int(cents), 100)
    text = f"{pesos:,}".replace(",", ".")
    return f"$ {text},{rest:02d}" if rest else f"$ {text}"


def with_id(url: str, txn_id: str) -> str:
    """`redirect_url` with `id=<txn id>` appended, keeping its other query parameters."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "id"]
    query.append(("id", txn_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


def new_cus() -> str:
    return str(random.randint(10**9, 10**10 - 1))


def decide(txn_id: str, status: str) -> store.Transaction | None:
    """Move a PENDING transaction to `status` (or keep it pending after the bank step).

    A final transaction never changes. A new final status sends the signed event.
    """
    changed = []

    def apply(txn: store.Transaction) -> None:
        if txn.final:
            return
        if txn.method_type == "PSE":
            extra = txn.extra
            code = txn.payment_method.get("financial_institution_code", "")
            bank = BANK_NAMES.get(code, code)
            extra.setdefault("traceability_code", new_cus())
            extra.update(
                bank_name=bank,
                financial_institution_name=bank,
                transaction_state=status,
                bank_processing_date=store.iso(store.now()),
            )
        txn.status_message = MESSAGES.get((txn.method_type, status))
        if status in store.FINAL:
            txn.status = status
            txn.finalized_at = store.now()
            changed.append(True)

    txn = store.update(txn_id, apply)
    if txn is not None and changed:
        merchant = registry().by_slug.get(txn.slug)
        if merchant is None:
            log.error("sandbox: no merchant %r for transaction %s; no event", txn.slug, txn.id)
        else:
            events.dispatch(current_app._get_current_object(), merchant, txn.to_json())
    return txn


def back_to_merchant(txn: store.Transaction):
    """303 to the merchant's redirect URL with `?id=`; a result page when there is none."""
    if txn.redirect_url:
        return redirect(with_id(txn.redirect_url, txn.id), code=303)
    return render_template("sandbox/result.html", txn=txn, **view_context(txn))


def view_context(txn: store.Transaction) -> dict:
    merchant = registry().by_slug.get(txn.slug)
    code = txn.payment_method.get("financial_institution_code")
    return {
        "merchant_name": merchant.name if merchant else txn.slug,
        "amount": money(txn.amount_in_cents),
        "status_label": STATUS_LABELS.get(txn.status, txn.status),
        "bank_name": BANK_NAMES.get(code, code) if code else None,
        "return_url": with_id(txn.redirect_url, txn.id) if txn.redirect_url else None,
    }
