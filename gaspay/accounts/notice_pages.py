"""The notice pages' rendering, shared by the notice views and the checkout views.

A helper module, not a views module: both view modules import it, neither imports the other.
"""

from __future__ import annotations

from flask import g, render_template
from flask_login import current_user

from gaspay.accounts.forms import PayForm
from gaspay.accounts.notices import Notice
from gaspay.billing.rules import accepts_partial
from gaspay.payments.checkout import payment_methods, resumable
from gaspay.payments.services import balances
from gaspay.timeutil import today_in_bogota


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
