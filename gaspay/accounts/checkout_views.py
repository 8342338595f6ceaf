"""Paying a notice through the hosted checkout: record the attempt, then the signed GET form.

POST ``/clientes/avisos/<id>/pagar`` (terms accepted, method chosen) records the attempt — the
database allows one live attempt per bill — and redirects to ``/clientes/pagos/<ref>/continuar``,
which shows the form that takes the browser to Wompi. The payer comes back to the result page
(``payments.result``) with ``?id=``; events finalise the attempt.

The routes are on the package's ``checkout_bp`` (endpoints ``checkout.*``), mounted for a tenant
that collects through the hosted checkout; they answer only where the customer area is offered.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from gaspay.accounts import checkout_bp as bp
from gaspay.accounts.notice_pages import pay_form, render_notice, render_selection
from gaspay.accounts.notices import get_notice
from gaspay.extensions import client_ip, db, limiter
from gaspay.payments.checkout import Payer, hosted_checkout, resumable
from gaspay.payments.providers import GatewayError
from gaspay.payments.reconcile import check_attempt, claim_payer_check
from gaspay.payments.schedule import first_check
from gaspay.payments.services import (
    BillBusy,
    BillNotPayable,
    SelectionRefused,
    get_attempt,
    open_attempt,
    schedule_check,
)
from gaspay.timeutil import as_utc, utcnow
from gaspay.web.templating import tenant_url

MAX_REFERENCE = 32
MAX_SELECTED = 12
# A hand-off page shown again after this long first asks the gateway whether the payer already
# paid under this reference (browser "back" from the checkout): no second charge by mistake.
RECHECK_AFTER = dt.timedelta(seconds=30)
log = logging.getLogger(__name__)


@bp.before_request
def only_for_customer_areas():
    if not g.tenant.offers("customer_accounts"):
        abort(404)


def _busy(notice, hold, status: int = 409, reason: str | None = None, taken=()):
    return render_template(
        "checkout/busy.html", bill=notice.bill, hold=hold, reason=reason, taken=list(taken)
    ), status


def _description(bill) -> str:
    text = g.tenant.payment_description.format(client=bill.client_number)
    return text.replace("|", " ").replace('"', " ").strip()[:64]


@bp.route("/avisos/<int:bill_id>/pagar", methods=["GET", "POST"], endpoint="notice")
@limiter.limit(lambda: current_app.config["PAY_RATE_LIMIT"], methods=["POST"])
@login_required
def notice(bill_id: int):
    found = get_notice(g.tenant, current_user, bill_id)
    if found is None:
        abort(404)
    if request.method == "GET":  # "Reintentar" from the result page: the notice's pay step
        return redirect(tenant_url("accounts.notice", bill_id=bill_id, _anchor="pagar"), 303)
    form = pay_form(submitted=True)
    if found.hold is not None:
        if resumable(found.hold, current_user):  # a double click: the first one's hand-off
            return redirect(tenant_url("checkout.handoff", reference=found.hold.reference), 303)
        return _busy(found, found.hold)
    if not found.payable:
        return render_notice(found, form, 409)
    if not form.validate_on_submit():
        return render_notice(found, form, 422)
    amounts = {found.bill.id: form.abono_cents} if form.abono_cents else None
    try:
        return _open_and_hand_off([found], form, amounts)
    except SelectionRefused as refused:
        form.abono.errors = [refused.message]
        return render_notice(found, form, 422)


@bp.get("/avisos/seleccion", endpoint="selection")
@login_required
def selection():
    """ "Pagar seleccionados": the ticked notices, their total, terms and the method."""
    chosen = _chosen_notices(request.args.getlist("aviso"))
    return render_selection(chosen, pay_form())


@bp.post("/avisos/seleccion", endpoint="pay_selection")
@limiter.limit(lambda: current_app.config["PAY_RATE_LIMIT"])
@login_required
def pay_selection():
    chosen = _chosen_notices(request.form.getlist("aviso"))
    form = pay_form(submitted=True)
    if not form.validate_on_submit():
        return render_selection(chosen, form, 422)
    try:
        return _open_and_hand_off(chosen, form, None)
    except SelectionRefused as refused:
        return render_selection(chosen, form, 409, error=refused.message)


def _chosen_notices(ids: list[str]) -> list:
    """The customer's own notices by id (any other id is a 404), oldest due first."""
    unique = list(dict.fromkeys(ids))
    well_formed = all(i.isascii() and i.isdigit() and len(i) < 12 for i in unique)
    if not unique or len(unique) > MAX_SELECTED or not well_formed:
        abort(404)
    found = [get_notice(g.tenant, current_user, int(i)) for i in unique]
    if any(n is None for n in found):
        abort(404)
    return sorted(found, key=lambda n: (n.bill.due_on, n.bill.id))


def _open_and_hand_off(notices: list, form, amounts: dict[int, int] | None):
    """Record the attempt for the notices (the database holds each bill), then the hand-off."""
    customer = current_user._get_current_object()
    bills = [n.bill for n in notices]
    try:
        attempt = open_attempt(
            g.tenant,
            bills,
            amounts=amounts,
            gateway=form.metodo.data,
            description=_description(bills[0]),
            payer={
                "payer_name": customer.full_name or bills[0].holder_name,
                "payer_email": customer.email,
                "payer_ip": client_ip(),
                "payment_method": None,
            },
            customer_id=customer.id,
        )
    except BillBusy as busy:
        same_bills = {link.bill_id for link in busy.attempt.bills} == {b.id for b in bills}
        if same_bills and resumable(busy.attempt, customer):  # a double click: its hand-off
            return redirect(tenant_url("checkout.handoff", reference=busy.attempt.reference), 303)
        taken = [n for n in notices if n.bill.id in busy.bill_ids] or notices[:1]
        return _busy(taken[0], busy.attempt, taken=[n.bill for n in taken])
    except BillNotPayable as refused:
        notice = next((n for n in notices if n.bill is refused.bill), notices[0])
        return _busy(notice, None, reason=refused.reason)
    now = utcnow()
    schedule_check(attempt.id, first_check(now, left_for_gateway=True), redirected_at=now)
    return redirect(tenant_url("checkout.handoff", reference=attempt.reference), code=303)


@bp.get("/pagos/<reference>/continuar", endpoint="handoff")
@limiter.limit(lambda: current_app.config["RESULT_RATE_LIMIT"])
@login_required
def handoff(reference: str):
    """The signed form to the gateway; once the attempt has moved on, its result page."""
    attempt = get_attempt(g.tenant, reference) if len(reference) <= MAX_REFERENCE else None
    if attempt is None or attempt.customer_id != current_user.id:
        abort(404)
    result = tenant_url("payments.result", reference=attempt.reference)
    shown_before = utcnow() - as_utc(attempt.created_at) > RECHECK_AFTER
    if resumable(attempt, current_user) and shown_before and not _gateway_has_nothing_live(attempt):
        # Fail closed: without the gateway's word the form could charge a second time.
        return render_template("checkout/unconfirmed.html", attempt=attempt), 503
    if not resumable(attempt, current_user):
        return redirect(result, code=303)
    customer = current_user._get_current_object()
    checkout = hosted_checkout(
        g.tenant,
        attempt,
        redirect_url=url_for(
            f"{g.tenant.slug}.payments.result", reference=attempt.reference, _external=True
        ),
        payer=Payer(
            email=customer.email,
            full_name=customer.full_name or (attempt.payer_name or ""),
            phone=customer.phone,
        ),
    )
    return render_template("checkout/handoff.html", attempt=attempt, checkout=checkout)


def _gateway_has_nothing_live(attempt) -> bool:
    """Asks the gateway about the reference (a payment begun on its page moves the attempt on).

    False when the gateway gave no definite answer: the form must not be shown again then.
    """
    if not claim_payer_check(attempt.id):  # asked a moment ago: wait for the next chance
        return False
    try:
        check_attempt(g.tenant, attempt, "payer")
    except GatewayError as exc:
        log.warning("hand-off of %s: gateway gave no answer (%s)", attempt.reference, exc)
        return False
    db.session.refresh(attempt)
    return True
