"""The review queue and the administrator's resolution (a decision and a note)."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request

from gaspay.payments.receipts import STATE_WORDS
from gaspay.staff import auth, reviews
from gaspay.staff.forms import ResolveForm
from gaspay.staff.payments import get_payment
from gaspay.staff.views import bp
from gaspay.web.templating import tenant_url


def _before() -> int | None:
    value = request.args.get("despues", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


@bp.get("/revisiones", endpoint="reviews")
@auth.requires("view")
def review_queue():
    resolved = request.args.get("estado") == "resueltas"
    rows = reviews.queue(g.tenant.slug, resolved=resolved, before=_before())
    more = len(rows) > reviews.PAGE
    rows = rows[: reviews.PAGE]
    context = {
        "rows": rows,
        "resolved": resolved,
        "next_id": rows[-1][0].id if more and rows else None,
        "kinds": reviews.KINDS,
        "words": STATE_WORDS,
        "open_count": reviews.open_count(g.tenant.slug),
    }
    return render_template("staff/reviews.html", **context)


def _load(review_id: int):
    review = reviews.get_review(g.tenant.slug, review_id)
    if review is None:
        abort(404)
    attempt = get_payment(g.tenant.slug, review.attempt_id)
    if attempt is None:
        abort(404)
    return review, attempt


def _page(review, attempt, form, status=200):
    context = {
        "review": review,
        "attempt": attempt,
        "form": form,
        "kinds": reviews.KINDS,
        "words": STATE_WORDS,
        "decisions": reviews.DECISIONS,
    }
    return render_template("staff/review.html", **context), status


@bp.get("/revisiones/<int:review_id>", endpoint="review")
@auth.requires("view")
def review_page(review_id: int):
    review, attempt = _load(review_id)
    return _page(review, attempt, ResolveForm())


@bp.post("/revisiones/<int:review_id>/resolver", endpoint="resolve")
@auth.requires("resolve")
def resolve(review_id: int):
    review, attempt = _load(review_id)
    form = ResolveForm()
    if not form.validate_on_submit():
        return _page(review, attempt, form, 422)
    try:
        done = reviews.resolve(
            g.tenant.slug, review.id, auth.current_staff(), form.decision.data, form.nota.data
        )
    except reviews.ReviewError as exc:
        form.nota.errors = [str(exc)]
        return _page(review, attempt, form, 422)
    if done:
        flash("La revisión quedó resuelta; el estado del pago no cambió.", "ok")
    else:
        flash("Otra persona ya resolvió esta revisión; su decisión se conserva.", "warn")
    return redirect(tenant_url("staff.reviews"), code=303)
