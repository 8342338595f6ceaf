"""The PSE bank step ("Pago PSE - débito desde su cuenta…") and the hand-off to the bank."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, make_response, redirect, request, url_for

from gaspay.billing.services import bill_from_token
from gaspay.extensions import client_ip, limiter
from gaspay.payments.access import remember_in_browser
from gaspay.payments.forms import PseForm
from gaspay.payments.providers import (
    GatewayError,
    cached_banks,
    cached_terms_links,
    pse_provider,
)
from gaspay.payments.pse import PseRequest, start_pse_payment
from gaspay.payments.services import BillBusy, BillNotPayable, holds_for_bills, payability
from gaspay.web.templating import is_htmx, render, tenant_url

bp = Blueprint("pse", __name__)
BANKS_UNAVAILABLE = (
    "No se pudo obtener la lista de Entidades Financieras, por favor intente más tarde"
)


def _bill_or_404(token: str | None):
    bill = bill_from_token(g.tenant, token)
    if bill is None:
        abort(404)
    return bill


def _render_step(form: PseForm, bill, *, error: str | None = None, status: int = 200):
    # The fields hold only what the payer typed; the bill's contact shows masked, as text.
    try:
        terms_links = cached_terms_links(g.tenant)
    except GatewayError:
        terms_links = None
    context = {"form": form, "bill": bill, "error": error, "terms_links": terms_links}
    return render("payments/pse_step.html", "payments/_pse_form.html", **context), status


def _render_busy(bill, attempt, reason: str | None = None, status: int = 409):
    return render(
        "payments/busy.html",
        "payments/_pending_rule.html",
        bill=bill,
        hold=attempt,
        reason=reason,
    ), status


def _prepare(form: PseForm, bill) -> str | None:
    try:
        form.set_banks(cached_banks(g.tenant))
    except GatewayError:
        form.set_banks([])
        return BANKS_UNAVAILABLE
    return None


def _contact(form: PseForm, bill) -> tuple[str, str, str]:
    """E-mail, its origin ("payer" or "bill") and phone for the gateway: typed, else the bill's."""
    typed = (form.email.data or "").strip()
    email, source = (typed, "payer") if typed else (bill.email or "", "bill")
    phone = form.telefono.data or re.sub(r"\D", "", bill.phone or "")
    return email, source, phone


def _pse_form(bill, **values) -> PseForm:
    form = PseForm(**values)
    form.bill_has_email = bool(bill.email)
    form.bill_has_phone = bool(bill.phone)
    return form


@bp.get("/pse/pagar", endpoint="start")
def start():
    bill = _bill_or_404(request.args.get("factura"))
    if reason := payability(g.tenant, [bill])[bill.id]:  # the token may predate midnight
        return _render_busy(bill, holds_for_bills(g.tenant, [bill.id]).get(bill.id), reason)
    form = _pse_form(
        bill,
        formdata=None,
        factura=request.args.get("factura"),
        # Whoever knows a client number reaches this step: the bill's e-mail and phone are not
        # prefilled (the page shows them masked, as text; an empty field means the bill's own).
        nombre=bill.holder_name,
        tipo_cliente="0",
        tipo_documento="CC",
    )
    error = _prepare(form, bill)
    return _render_step(form, bill, error=error, status=503 if error else 200)


@bp.post("/pse/pagar", endpoint="pay")
@limiter.limit(lambda: current_app.config["PAY_RATE_LIMIT"])
def pay():
    bill = _bill_or_404(request.form.get("factura"))
    form = _pse_form(bill)
    error = _prepare(form, bill)
    if error or not form.validate():
        return _render_step(form, bill, error=error, status=422)
    email, email_source, phone = _contact(form, bill)
    data = PseRequest(
        person_type=int(form.tipo_cliente.data),
        bank_code=form.banco.data,
        bank_name=form.bank_name(),
        document_type=form.tipo_documento.data,
        document_number=form.documento.data,
        email=email,
        email_source=email_source,
        full_name=form.nombre.data.strip(),
        phone=phone,
        payer_ip=client_ip(),
    )
    tenant = g.tenant
    try:
        outcome = start_pse_payment(
            tenant,
            bill,
            data,
            pse_provider(tenant),
            lambda ref: url_for(f"{tenant.slug}.payments.result", reference=ref, _external=True),
        )
    except BillBusy as busy:
        return _render_busy(bill, busy.attempt)
    except BillNotPayable as refused:
        return _render_busy(bill, None, refused.reason)
    if outcome.error and outcome.attempt is None:
        return _render_step(form, bill, error=outcome.error, status=422)
    if outcome.error:  # the gateway's answer disagrees with our record: no trip to the bank
        response = make_response(_render_stopped(bill, outcome))
    else:
        target = outcome.bank_url or tenant_url(
            "payments.result", reference=outcome.attempt.reference
        )
        if is_htmx():
            response = make_response("", 200)
            response.headers["HX-Redirect"] = target
        else:
            response = redirect(target, code=303)
    # This browser started the payment: it alone (and the payer's mailbox) sees it in full.
    return remember_in_browser(response, tenant, outcome.attempt.reference)


def _render_stopped(bill, outcome):
    return render(
        "payments/stopped.html",
        "payments/_stopped.html",
        bill=bill,
        attempt=outcome.attempt,
        error=outcome.error,
    ), 409  # 4xx: htmx swaps it in (see base.html responseHandling)
