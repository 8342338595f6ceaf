"""Payments: the filtered list with totals, the payment page, "Consultar ahora", notes."""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, g, redirect, render_template, request

from gaspay.payments.receipts import STATE_WORDS
from gaspay.staff import auth, outbox_panel
from gaspay.staff import payments as P
from gaspay.staff.forms import ActionForm, FilterForm, NoteForm
from gaspay.staff.reviews import KINDS
from gaspay.staff.views import bp
from gaspay.timeutil import today_in_bogota
from gaspay.web.templating import render, tenant_url

# Without dates the list shows the last week: the month is on the overview, and the totals of a
# longer range cost in proportion to its payments (docs/BENCHMARKS.md, staff area).
DEFAULT_DAYS = 7


def _methods() -> dict[str, str]:
    return dict(P.METHODS)


def _gateways() -> dict[str, str]:
    return {name: P.GATEWAYS.get(name, name) for name in g.tenant.gateways}


def load_payment(attempt_id: int):
    """The tenant's payment or 404: another company's id is simply not found."""
    attempt = P.get_payment(g.tenant.slug, attempt_id)
    if attempt is None:
        abort(404)
    return attempt


@bp.get("/pagos", endpoint="payments")
@auth.requires("view")
def payments():
    form = FilterForm(request.args, methods=_methods(), gateways=_gateways())
    valid = form.validate()
    filters = P.Filters()
    defaulted = False
    if valid:
        filters = P.Filters(
            start=form.desde.data,
            end=form.hasta.data,
            status=form.estado.data or None,
            method=form.medio.data or None,
            gateway=form.canal.data or None,
            bank=(form.banco.data or "").strip() or None,
            text=(form.q.data or "").strip() or None,
        )
        if not (filters.start or filters.end or filters.text):
            # Without a search or dates: the last week (totals over all time are not a list).
            filters.end = today_in_bogota()
            filters.start = filters.end - dt.timedelta(days=DEFAULT_DAYS - 1)
            form.desde.data, form.hasta.data = filters.start, filters.end
            defaulted = True
    cursor = request.args.get("antes")
    page = P.list_payments(g.tenant.slug, filters, cursor) if valid else None
    context = {
        "form": form,
        "results": page,
        "filters": filters,
        "defaulted": defaulted,
        "default_days": DEFAULT_DAYS,
        "paged": bool(cursor),
        "words": STATE_WORDS,
        "methods": P.METHODS,
        "gateways": P.GATEWAYS,
        "banks": P.known_banks(g.tenant.slug),  # the bank field's suggestions
    }
    return render("staff/payments.html", "staff/_payments_results.html", **context), (
        200 if valid else 422
    )


@bp.get("/pagos/<int:attempt_id>", endpoint="payment")
@auth.requires("view")
def payment(attempt_id: int):
    attempt = load_payment(attempt_id)
    detail = P.payment_detail(g.tenant.slug, attempt)
    context = {
        "detail": detail,
        "attempt": attempt,
        "words": STATE_WORDS,
        "kinds": KINDS,
        "sources": P.SOURCES,
        "methods": P.METHODS,
        "gateways": P.GATEWAYS,
        "action_form": ActionForm(),
        "note_form": NoteForm(),
        "messages": outbox_panel.messages_for(g.tenant.slug, attempt),
        "message_label": outbox_panel.message_label,
        "outcome_word": P.outcome_word,
    }
    return render_template("staff/payment.html", **context)


@bp.post("/pagos/<int:attempt_id>/consultar", endpoint="requery")
@auth.requires("requery")
def requery(attempt_id: int):
    attempt = load_payment(attempt_id)
    if ActionForm().validate_on_submit():
        category, message = P.requery(g.tenant, attempt, auth.current_staff())
        flash(message, category)
    return redirect(tenant_url("staff.payment", attempt_id=attempt_id), code=303)


@bp.post("/pagos/<int:attempt_id>/notas", endpoint="note")
@auth.requires("note")
def note(attempt_id: int):
    attempt = load_payment(attempt_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            P.add_note(g.tenant.slug, attempt, auth.current_staff(), form.nota.data)
        except ValueError as exc:
            flash(str(exc), "error")
        else:
            flash("La nota quedó guardada.", "ok")
    else:
        for errors in form.errors.values():
            flash(errors[0], "error")
    return redirect(tenant_url("staff.payment", attempt_id=attempt_id) + "#notas", code=303)


@bp.post("/pagos/<int:attempt_id>/mensajes/<int:message_id>/reenviar", endpoint="resend")
@auth.requires("resend")
def resend(attempt_id: int, message_id: int):
    attempt = load_payment(attempt_id)
    if ActionForm().validate_on_submit():
        outcome = outbox_panel.resend(g.tenant.slug, attempt, message_id, auth.current_staff())
        if outcome is None:
            abort(404)
        flash(outcome[1], outcome[0])
    return redirect(tenant_url("staff.payment", attempt_id=attempt_id) + "#mensajes", code=303)
