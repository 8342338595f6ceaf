"""The payer's return and the result page (a self-refreshing fragment while pending)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, make_response, request
from flask_login import current_user

from gaspay.billing.services import bill_token
from gaspay.extensions import limiter
from gaspay.outbox import pdf
from gaspay.payments import transitions as T
from gaspay.payments.access import may_see_in_full, remember_in_browser, started_here
from gaspay.payments.receipts import receipt_context
from gaspay.payments.reconcile import refresh_for_payer
from gaspay.payments.services import get_attempt, payability
from gaspay.web.templating import render, tenant_url

bp = Blueprint("payments", __name__)
MAX_REFERENCE = 32


def retry_url(attempt) -> str | None:
    """Where "Reintentar" leads, only after a failure and while the bill is still payable."""
    if attempt.status not in T.RELEASING:
        return None
    bills = [link.bill for link in attempt.bills]
    if any(payability(g.tenant, bills).values()):  # the one payable-now rule
        return None
    if attempt.gateway == "pse":
        return tenant_url("pse.start", factura=bill_token(g.tenant, bills[0]))
    return tenant_url("checkout.notice", bill_id=bills[0].id)


def _attempt_or_404(reference: str):
    """The attempt by reference; a customer's is theirs alone (others: login, or 404)."""
    attempt = get_attempt(g.tenant, reference) if len(reference) <= MAX_REFERENCE else None
    if attempt is None:
        abort(404)
    if attempt.customer_id is not None:
        if not current_user.is_authenticated:
            abort(current_app.login_manager.unauthorized())
        if current_user.id != attempt.customer_id:
            abort(404)
    return attempt


@bp.get("/pagos/<reference>/comprobante.pdf", endpoint="receipt_pdf")
@limiter.limit(lambda: current_app.config["RESULT_RATE_LIMIT"])
def receipt_pdf(reference: str):
    """ "Descargar comprobante (PDF)": the same facts as the page, for whoever sees it in full."""
    attempt = _attempt_or_404(reference)
    if not may_see_in_full(g.tenant, attempt, current_user):
        abort(404)
    if attempt.status in T.LIVE:
        abort(409, "El comprobante estará disponible cuando el pago termine.")
    response = make_response(pdf.receipt_pdf(g.tenant, attempt))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{pdf.receipt_filename(attempt)}"'
    )
    return response


@bp.get("/pagos/<reference>", endpoint="result")
@limiter.limit(lambda: current_app.config["RESULT_RATE_LIMIT"])
def result(reference: str):
    attempt = _attempt_or_404(reference)
    txn_id = request.args.get("id") or None
    if txn_id is not None and len(txn_id) > 64:
        abort(404)
    full = may_see_in_full(g.tenant, attempt, current_user)
    refresh_for_payer(g.tenant, attempt, txn_id)
    attempt = get_attempt(g.tenant, reference) or attempt  # a retry may have been approved
    context = {
        **receipt_context(attempt, full=full),
        "retry_url": retry_url(attempt) if full else None,
    }
    response = make_response(render("payments/result.html", "payments/_result.html", **context))
    if full and attempt.customer_id is None and not started_here(g.tenant, reference):
        remember_in_browser(response, g.tenant, reference)  # opened from the mailbox link
    return response
