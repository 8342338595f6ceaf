"""Guest lookup: "Número de Factura" -> the client's bills, as a page or an htmx fragment."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from gaspay.billing.forms import LookupForm
from gaspay.billing.numbers import InvalidNumber, normalise_number
from gaspay.billing.services import bill_token, lookup_bills
from gaspay.extensions import limiter
from gaspay.payments.services import holds_for_bills
from gaspay.web.templating import render

bp = Blueprint("billing", __name__)


def _lookup_target() -> str:
    """Rate-limit key per looked-up number, so one client cannot be hammered from many IPs."""
    try:
        return f"{g.tenant.slug}:{normalise_number(request.form.get('numero'))}"
    except InvalidNumber:
        return f"{g.tenant.slug}:invalid"


@bp.route("/factura", methods=["GET", "POST"], endpoint="lookup")
@limiter.limit(lambda: current_app.config["LOOKUP_RATE_LIMIT"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["LOOKUP_TARGET_RATE_LIMIT"],
    methods=["POST"],
    key_func=_lookup_target,
)
def lookup():
    form = LookupForm()
    context = {"form": form, "lookup": None}
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                found = lookup_bills(g.tenant, form.numero.data)
            except InvalidNumber:
                form.numero.errors.append(
                    "El número solo puede tener dígitos y letras, como aparece en su factura."
                )
            else:
                bills = found.payable + found.overdue + found.paid
                context.update(
                    lookup=found,
                    shown_number=form.numero.data.strip(),
                    holds=holds_for_bills(g.tenant, [b.id for b in bills]),
                    bill_tokens={b.id: bill_token(g.tenant, b) for b in found.payable},
                )
        if context["lookup"] is None:
            context["lookup"] = False  # show the form's error inside the result area
    status = 422 if form.errors and request.method == "POST" else 200
    return render("billing/lookup.html", "billing/_result.html", **context), status
