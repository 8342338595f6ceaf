"""The review queue: every payment the system flagged, until an administrator resolves it.

Resolving records a decision (who, when, what and why) and leaves the money state alone: the
attempt's status, its bills and holds are never touched here; only the attempt's
``review_reason`` (the payer page's note) is cleared once no open review remains.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments.models import PaymentAttempt, PaymentReview
from gaspay.staff import audit
from gaspay.staff.models import StaffUser
from gaspay.timeutil import utcnow

PAGE = 50
MAX_NOTE = 2000
KINDS = {
    "mismatch": "Datos de la pasarela no coinciden",
    "paid_twice": "Factura pagada dos veces",
    "amount_changed": "El valor de la factura cambió",
    "late_answer": "Respuesta tardía que contradice el estado final",
    "unknown_status": "Estado desconocido de la pasarela",
    "stuck_pending": "Pendiente por demasiado tiempo",
    "create_mismatch": "La transacción creada no coincide",
    "retry_conflict": "Reintento con las facturas tomadas",
    "overpaid": "Pago en exceso",
}
DECISIONS = {
    "correcto": "El pago es correcto: no hay nada que hacer",
    "aplicar": "Se aplicará manualmente en el sistema de facturación",
    "devolver": "Se devolverá el dinero al pagador (fuera del portal)",
    "pasarela": "Se escaló a la pasarela de pagos",
    "otro": "Otra decisión (ver la nota)",
}


class ReviewError(ValueError):
    """The resolution cannot be recorded; the message is for the administrator."""


def open_count(slug: str) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(PaymentReview)
        .where(PaymentReview.tenant == slug, PaymentReview.resolved_at.is_(None))
    )


def queue(slug: str, resolved: bool = False, before: int | None = None):
    """(review, attempt) pairs, open ones oldest first (a queue), resolved ones newest first."""
    query = (
        select(PaymentReview, PaymentAttempt)
        .join(PaymentAttempt, PaymentAttempt.id == PaymentReview.attempt_id)
        .where(PaymentReview.tenant == slug, PaymentAttempt.tenant == slug)
    )
    if resolved:
        query = query.where(PaymentReview.resolved_at.is_not(None))
        if before:
            query = query.where(PaymentReview.id < before)
        query = query.order_by(PaymentReview.id.desc())
    else:
        query = query.where(PaymentReview.resolved_at.is_(None))
        if before:
            query = query.where(PaymentReview.id > before)
        query = query.order_by(PaymentReview.id)
    return db.session.execute(query.limit(PAGE + 1)).all()


def get_review(slug: str, review_id: int) -> PaymentReview | None:
    return db.session.scalars(
        select(PaymentReview).where(PaymentReview.tenant == slug, PaymentReview.id == review_id)
    ).first()


def resolve(slug: str, review_id: int, staff: StaffUser, decision: str, note: str) -> bool:
    """Record the decision; False when someone resolved it first (nothing is overwritten)."""
    note = (note or "").strip()
    if decision not in DECISIONS:
        raise ReviewError("Seleccione una de las decisiones de la lista.")
    if not note:
        raise ReviewError("Escriba una nota que explique la decisión.")
    if len(note) > MAX_NOTE:
        raise ReviewError(f"La nota no puede pasar de {MAX_NOTE} caracteres.")
    text = f"{DECISIONS[decision]}. {note}"
    with write_unit():
        review = get_review(slug, review_id)
        if review is None:
            raise ReviewError("La revisión no existe.")
        changed = db.session.execute(
            update(PaymentReview)
            .where(
                PaymentReview.id == review_id,
                PaymentReview.tenant == slug,
                PaymentReview.resolved_at.is_(None),
            )
            .values(resolved_at=utcnow(), resolved_by=staff.email, resolution=text)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            return False
        latest_open = db.session.scalars(
            select(PaymentReview.reason)
            .where(
                PaymentReview.attempt_id == review.attempt_id,
                PaymentReview.tenant == slug,
                PaymentReview.resolved_at.is_(None),
            )
            .order_by(PaymentReview.id.desc())
            .limit(1)
        ).first()
        # Only the note for the payer's page; status, bills and holds stay as they are.
        db.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == review.attempt_id, PaymentAttempt.tenant == slug)
            .values(review_reason=latest_open)
            .execution_options(synchronize_session=False)
        )
        attempt_ref = db.session.scalar(
            select(PaymentAttempt.reference).where(PaymentAttempt.id == review.attempt_id)
        )
        audit.record(slug, staff.email, "review_resolved", attempt_ref or "", text[:500])
    return True
