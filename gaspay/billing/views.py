"""Guest lookup: "Número de Factura" -> the client's bills, as a page or an htmx fragment."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, request

from gaspay.billing.forms import LookupForm
from gaspay.billing.numbers import InvalidNumber, normalise_number
from gaspay.billing.rules import accepts_partial, why_not_payable
from gaspay.billing.services import (
    MAX_BILLS_SHOWN,
    MAX_SELECTED,
    bill_token,
    bills_from_tokens,
    lookup_bills,
)
from gaspay.extensions import client_ip, limiter
from gaspay.payments.services import KnownFacts, balances, holding_attempts, selection_problem
from gaspay.web.ratelimit import limits_together
from gaspay.web.templating import render

bp = Blueprint("billing", __name__)


def _lookup_target() -> str:
    """Rate-limit key per looked-up number, so one client cannot be hammered from many IPs.

    A malformed number targets no client: it is counted per client address, so typos from
    many addresses never share a bucket that would lock honest payers out.
    """
    try:
        return f"{g.tenant.slug}:{normalise_number(request.form.get('numero'))}"
    except InvalidNumber:
        return f"{g.tenant.slug}:invalid:{client_ip()}"


@bp.route("/factura", methods=["GET", "POST"], endpoint="lookup")
@limits_together(  # per address and per looked-up number: one Redis round trip for both
    (lambda: current_app.config["LOOKUP_RATE_LIMIT"], client_ip),
    (lambda: current_app.config["LOOKUP_TARGET_RATE_LIMIT"], _lookup_target),
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
                context.update(_bills_context(found), shown_number=form.numero.data.strip())
        if context["lookup"] is None:
            context["lookup"] = False  # show the form's error inside the result area
    status = 422 if form.errors and request.method == "POST" else 200
    return render("billing/lookup.html", "billing/_result.html", **context), status


def _bills_context(found, chosen: set[int] | None = None) -> dict:
    """What the bill cards need: holds, balances, tokens where the payable-now rule allows
    (all from the lookup's one query; the holding attempts are read only when there are holds)."""
    bills = found.bills
    holds = holding_attempts(g.tenant, found.held_by)
    payable = [
        b
        for b in found.payable
        if why_not_payable(g.tenant, b, held=b.id in holds, today=found.today) is None
    ]
    tokens = {b.id: bill_token(g.tenant, b) for b in payable}
    owed = balances(bills, found.applied)
    if chosen is None:  # all ticked by default, as many as one payment may take
        chosen = {b.id for b in sorted(payable, key=lambda b: (b.due_on, b.id))[:MAX_SELECTED]}
    chosen &= set(tokens)
    selected = [b for b in payable if b.id in chosen]
    return {
        "lookup": found,
        "holds": holds,
        "bill_tokens": tokens,  # a pay button only where the one payable-now rule says so
        "balances": owed,
        "chosen": chosen,
        "selection_total": sum(owed[b.id] for b in selected),
        "selection_problem": (
            selection_problem(
                g.tenant,
                selected,
                known=KnownFacts(found.bills if found.complete else None, holds, owed),
            )
            if selected
            else None
        ),
        "partial_ok": {b.id for b in payable if accepts_partial(g.tenant, b, found.today)},
    }


@bp.get("/factura/seleccion", endpoint="selection")
@limiter.limit(lambda: current_app.config["LOOKUP_RATE_LIMIT"])
def selection():
    """ "Recalcular": the same bills with the payer's selection and its total (htmx: the total)."""
    offered = bills_from_tokens(g.tenant, request.args.getlist("ofrecida"), MAX_BILLS_SHOWN)
    if offered is None:
        abort(404)
    chosen = request.args.getlist("factura")
    chosen_bills = bills_from_tokens(g.tenant, chosen, MAX_BILLS_SHOWN) or []
    if len(chosen_bills) > MAX_SELECTED:
        chosen_bills = chosen_bills[:MAX_SELECTED]  # one payment takes at most this many
    found = lookup_bills(g.tenant, offered[0].client_number)
    context = _bills_context(found, {b.id for b in chosen_bills})
    context.update(form=None, shown_number=offered[0].client_display)
    return render("billing/lookup_selection.html", "billing/_selection_total.html", **context)
