"""'Facturación' → 'Mis avisos de cobro' (list, filter, detail) and 'Mis pagos'."""

from __future__ import annotations

from flask import abort, g, render_template, request
from flask_login import current_user, login_required

from gaspay.accounts.forms import PayForm
from gaspay.accounts.notices import (
    ONLY_UNPAID,
    Notice,
    customer_notices,
    customer_payments,
    get_notice,
)
from gaspay.accounts.views import bp
from gaspay.billing.rules import accepts_partial
from gaspay.payments.checkout import payment_methods, resumable
from gaspay.payments.receipts import STATE_WORDS
from gaspay.payments.services import balances
from gaspay.timeutil import today_in_bogota
from gaspay.web.templating import render


def pay_form(submitted: bool = False) -> PayForm:
    """The pay form with the tenant's methods; when there is only one, it is chosen already."""
    methods = payment_methods(g.tenant)
    if submitted:
        form = PayForm()
    else:
        form = PayForm(formdata=None, metodo=methods[0][0] if len(methods) == 1 else None)
    form.metodo.choices = methods
    return form


def render_notice(notice: Notice, form: PayForm | None = None, status: int = 200):
    """The notice's detail, with the pay step when it can be paid (shared with checkout)."""
    hold = notice.hold
    bill = notice.bill
    context = {
        "notice": notice,
        "bill": bill,
        "balance": balances([bill])[bill.id],
        "partial": accepts_partial(g.tenant, bill, today_in_bogota()),
        "form": form or pay_form(),
        "hold": hold,
        "resume": hold is not None and resumable(hold, current_user),
        "terms_url": g.tenant.terms_url,
        "can_pay_online": bool(payment_methods(g.tenant)),
    }
    return render_template("accounts/notice.html", **context), status


def render_selection(notices: list[Notice], form: PayForm, status: int = 200, error=None):
    """Several notices in one payment: each, the total, terms and method (shared with checkout)."""
    bills = [n.bill for n in notices]
    owed = balances(bills)
    refused = [n for n in notices if not n.payable]
    context = {
        "notices": notices,
        "balances": owed,
        "total": sum(owed[b.id] for b in bills),
        "form": form,
        "error": error,
        "refused": refused,
        "terms_url": g.tenant.terms_url,
        "can_pay_online": bool(payment_methods(g.tenant)),
    }
    return render_template("accounts/selection.html", **context), (409 if refused else status)


@bp.get("/avisos", endpoint="notices")
@login_required
def notices():
    only_unpaid = request.args.get("estado") == ONLY_UNPAID
    context = {
        "notices": customer_notices(g.tenant, current_user, only_unpaid=only_unpaid),
        "only_unpaid": only_unpaid,
        "has_clients": bool(current_user.client_numbers),
    }
    return render("accounts/notices.html", "accounts/_notices.html", **context)


@bp.get("/avisos/<int:bill_id>", endpoint="notice")
@login_required
def notice(bill_id: int):
    found = get_notice(g.tenant, current_user, bill_id)
    if found is None:
        abort(404)
    return render_notice(found)


@bp.get("/pagos", endpoint="payments")
@login_required
def payments():
    attempts = customer_payments(g.tenant, current_user)
    return render_template("accounts/payments.html", attempts=attempts, words=STATE_WORDS)
