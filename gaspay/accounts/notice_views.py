"""'Facturación' → 'Mis avisos de cobro' (list, filter, detail) and 'Mis pagos'."""

from __future__ import annotations

from flask import abort, g, render_template, request
from flask_login import current_user, login_required

from gaspay.accounts import bp
from gaspay.accounts.notice_pages import render_notice
from gaspay.accounts.notices import (
    ONLY_UNPAID,
    customer_notices,
    customer_payments,
    get_notice,
)
from gaspay.payments.receipts import STATE_WORDS
from gaspay.web.templating import render


@bp.get("/avisos", endpoint="notices")
@login_required
def notices():
    only_unpaid = request.args.get("estado") == ONLY_UNPAID
    notices = customer_notices(g.tenant, current_user, only_unpaid=only_unpaid)
    context = {
        "notices": notices,
        "only_unpaid": only_unpaid,
        "has_clients": bool(notices) or bool(current_user.client_numbers),  # read if none
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
