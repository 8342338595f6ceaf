"""The PSE bank step ("Pago PSE - débito desde su cuenta…") and the hand-off to the bank.

The step pays one bill, several bills of one client (each by its own token from the lookup),
or part of one bill (an "abono", where the company accepts it).
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, make_response, redirect, request, url_for

from gaspay.billing.services import bill_token, bills_from_tokens
from gaspay.extensions import client_ip, limiter
from gaspay.formatting import parse_pesos
from gaspay.payments.access import remember_in_browser
from gaspay.payments.forms import PseForm
from gaspay.payments.providers import (
    GatewayError,
    cached_banks,
    cached_terms_links,
    pse_provider,
)
from gaspay.payments.pse import PseRequest, start_pse_payment
from gaspay.payments.services import (
    BillBusy,
    BillNotPayable,
    SelectionRefused,
    balances,
    holds_for_bills,
    payability,
    selection_problem,
)
from gaspay.web.templating import is_htmx, render, tenant_url

bp = Blueprint("pse", __name__)
BANKS_UNAVAILABLE = (
    "No se pudo obtener la lista de Entidades Financieras, por favor intente más tarde"
)
BAD_ABONO = "Escriba el valor a abonar en pesos, solo con números, por ejemplo 10000."


class Selection:
    """The bills this step pays, the tokens that proved the payer may see them, and the amounts."""

    def __init__(self, bills, tokens: list[str], abono_text: str | None):
        self.bills = bills
        self.tokens = tokens
        self.abono_text = (abono_text or "").strip()
        self.abono_cents = parse_pesos(self.abono_text) if self.abono_text else None

    @property
    def bill(self):
        """The oldest bill: its holder's contact data stands in for empty fields."""
        return self.bills[0]

    @property
    def amounts(self) -> dict[int, int]:
        if self.abono_cents is None:
            return {}
        return {self.bill.id: self.abono_cents}

    def problem(self) -> str | None:
        if self.abono_text and (self.abono_cents is None or len(self.bills) != 1):
            return BAD_ABONO
        return selection_problem(g.tenant, self.bills, self.amounts)


def _selection_or_404(tokens: list[str], abono: str | None) -> Selection:
    bills = bills_from_tokens(g.tenant, tokens)
    if bills is None or len({b.client_number for b in bills}) != 1:
        abort(404)
    return Selection(bills, [bill_token(g.tenant, b) for b in bills], abono)


def _render_step(form: PseForm, chosen: Selection, *, error: str | None = None, status=200):
    # The fields hold only what the payer typed; the bill's contact shows masked, as text.
    try:
        terms_links = cached_terms_links(g.tenant)
    except GatewayError:
        terms_links = None
    owed = balances(chosen.bills)
    context = {
        "form": form,
        "bill": chosen.bill,
        "selection": chosen,
        "applied": {b.id: chosen.amounts.get(b.id, owed[b.id]) for b in chosen.bills},
        "error": error,
        "terms_links": terms_links,
    }
    return render("payments/pse_step.html", "payments/_pse_form.html", **context), status


def _render_busy(bill, attempt, reason: str | None = None, status: int = 409, taken=()):
    return render(
        "payments/busy.html",
        "payments/_pending_rule.html",
        bill=bill,
        hold=attempt,
        reason=reason,
        taken=list(taken),
    ), status


def _render_refused(chosen: Selection, message: str):
    return render(
        "payments/refused.html", "payments/_refused.html", selection=chosen, message=message
    ), 409


def _not_payable_now(chosen: Selection):
    """The busy page for the first bill the payable-now rule refuses, or None."""
    reasons = payability(g.tenant, chosen.bills)
    refused = [b for b in chosen.bills if reasons[b.id]]
    if not refused:
        return None
    holds = holds_for_bills(g.tenant, [b.id for b in refused])
    first = refused[0]
    return _render_busy(first, holds.get(first.id), reasons[first.id], taken=refused)


def _prepare(form: PseForm) -> str | None:
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
    chosen = _selection_or_404(request.args.getlist("factura"), request.args.get("abono"))
    if busy := _not_payable_now(chosen):  # a token may predate midnight or another payment
        return busy
    if problem := chosen.problem():
        return _render_refused(chosen, problem)
    form = _pse_form(
        chosen.bill,
        formdata=None,
        factura=chosen.tokens[0],
        # Whoever knows a client number reaches this step: the bill's e-mail and phone are not
        # prefilled (the page shows them masked, as text; an empty field means the bill's own).
        nombre=chosen.bill.holder_name,
        tipo_cliente="0",
        tipo_documento="CC",
    )
    error = _prepare(form)
    return _render_step(form, chosen, error=error, status=503 if error else 200)


@bp.post("/pse/pagar", endpoint="pay")
@limiter.limit(lambda: current_app.config["PAY_RATE_LIMIT"])
def pay():
    chosen = _selection_or_404(request.form.getlist("factura"), request.form.get("abono"))
    form = _pse_form(chosen.bill)
    error = _prepare(form)
    if error or not form.validate():
        return _render_step(form, chosen, error=error, status=422)
    if problem := chosen.problem():
        return _render_refused(chosen, problem)
    email, email_source, phone = _contact(form, chosen.bill)
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
        user_agent=request.headers.get("User-Agent"),
    )
    tenant = g.tenant
    try:
        outcome = start_pse_payment(
            tenant,
            chosen.bills,
            data,
            pse_provider(tenant),
            lambda ref: url_for(f"{tenant.slug}.payments.result", reference=ref, _external=True),
            amounts=chosen.amounts,
        )
    except BillBusy as busy:
        taken = [b for b in chosen.bills if b.id in busy.bill_ids] or chosen.bills[:1]
        return _render_busy(taken[0], busy.attempt, taken=taken)
    except BillNotPayable as refused:
        return _render_busy(refused.bill or chosen.bill, None, refused.reason)
    except SelectionRefused as refused:
        return _render_refused(chosen, refused.message)
    if outcome.error and outcome.attempt is None:
        return _render_step(form, chosen, error=outcome.error, status=422)
    if outcome.error:  # the gateway's answer disagrees with our record: no trip to the bank
        response = make_response(_render_stopped(chosen.bill, outcome))
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
