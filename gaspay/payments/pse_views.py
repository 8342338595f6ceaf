"""The PSE bank step ("Pago PSE - débito desde su cuenta…") and the hand-off to the bank."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, make_response, redirect, request, url_for

from gaspay.billing.services import bill_from_token
from gaspay.extensions import client_ip, limiter
from gaspay.formatting import mask_email, mask_phone
from gaspay.payments.forms import PseForm
from gaspay.payments.providers import (
    GatewayError,
    cached_banks,
    cached_terms_links,
    pse_provider,
)
from gaspay.payments.pse import PseRequest, start_pse_payment
from gaspay.payments.services import BillBusy, BillNotPayable, holds_for_bills
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
    # The bill's own contact data goes back to the page masked, whoever typed it.
    if bill.email and (form.email.data or "").strip().lower() == bill.email.lower():
        form.email.data = mask_email(bill.email)
    if bill.phone and (form.telefono.data or "") == bill.phone:
        form.telefono.data = mask_phone(bill.phone)
    try:
        terms_links = cached_terms_links(g.tenant)
    except GatewayError:
        terms_links = None
    context = {"form": form, "bill": bill, "error": error, "terms_links": terms_links}
    return render("payments/pse_step.html", "payments/_pse_form.html", **context), status


def _render_busy(bill, attempt, status: int = 409):
    return render(
        "payments/busy.html", "payments/_pending_rule.html", bill=bill, hold=attempt
    ), status


def _prepare(form: PseForm, bill) -> str | None:
    try:
        form.set_banks(cached_banks(g.tenant))
    except GatewayError:
        form.set_banks([])
        return BANKS_UNAVAILABLE
    return None


def _unmask(form: PseForm, bill) -> None:
    """The prefilled, masked e-mail and phone, left as they were, mean the bill's own."""
    if bill.email and (form.email.data or "").strip() == mask_email(bill.email):
        form.email.data = bill.email
    if bill.phone and (form.telefono.data or "").strip() == mask_phone(bill.phone):
        form.telefono.data = bill.phone


@bp.get("/pse/pagar", endpoint="start")
def start():
    bill = _bill_or_404(request.args.get("factura"))
    hold = holds_for_bills(g.tenant, [bill.id]).get(bill.id)
    if hold is not None or bill.is_paid:
        return _render_busy(bill, hold)
    form = PseForm(
        formdata=None,
        factura=request.args.get("factura"),
        # Whoever knows a client number reaches this step: the bill's contact data stays masked
        # here as on the bill (_render_step); the masked value, sent back unchanged, stands for
        # the real one (_unmask).
        email=bill.email or "",
        nombre=bill.holder_name,
        telefono=bill.phone or "",
        tipo_cliente="0",
        tipo_documento="CC",
    )
    error = _prepare(form, bill)
    return _render_step(form, bill, error=error, status=503 if error else 200)


@bp.post("/pse/pagar", endpoint="pay")
@limiter.limit(lambda: current_app.config["PAY_RATE_LIMIT"])
def pay():
    form = PseForm()
    bill = _bill_or_404(form.factura.data)
    _unmask(form, bill)
    error = _prepare(form, bill)
    if error or not form.validate():
        return _render_step(form, bill, error=error, status=422)
    data = PseRequest(
        person_type=int(form.tipo_cliente.data),
        bank_code=form.banco.data,
        bank_name=form.bank_name(),
        document_type=form.tipo_documento.data,
        document_number=form.documento.data,
        email=form.email.data.strip(),
        full_name=form.nombre.data.strip(),
        phone=form.telefono.data,
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
    except BillNotPayable:
        return _render_busy(bill, None)
    if outcome.error:
        return _render_step(form, bill, error=outcome.error, status=422)
    target = outcome.bank_url or tenant_url("payments.result", reference=outcome.attempt.reference)
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)
