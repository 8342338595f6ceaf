"""The review queue: flagged payments wait until an administrator resolves them with a note;
the decision is recorded and the money state is untouched."""

from __future__ import annotations

from sqlalchemy import func, select

from gaspay.billing.models import Bill
from gaspay.extensions import db
from gaspay.payments.models import AttemptTransition, BillHold, PaymentAttempt, PaymentReview
from gaspay.payments.services import flag_for_review
from gaspay.staff import reviews
from gaspay.staff.models import StaffAudit
from tests.staff.conftest import make_staff, page_csrf, sign_in

BASE = "/insesp/empresa"


def money_state(attempt_id: int):
    db.session.rollback()
    attempt = db.session.get(PaymentAttempt, attempt_id, populate_existing=True)
    bills = db.session.scalars(select(Bill.state).order_by(Bill.id)).all()
    holds = db.session.scalar(select(func.count()).select_from(BillHold))
    moves = db.session.scalar(select(func.count()).select_from(AttemptTransition))
    return attempt.status, attempt.finalized_at, list(bills), holds, moves


def open_reviews(attempt_id):
    return db.session.scalars(
        select(PaymentReview)
        .where(PaymentReview.attempt_id == attempt_id)
        .order_by(PaymentReview.id)
    ).all()


def test_resolving_records_the_decision_and_touches_no_money(client, app, approved, insesp):
    attempt, _ = approved(insesp)
    flag_for_review(attempt.id, "factura pagada dos veces", "paid_twice")
    before = money_state(attempt.id)
    review = open_reviews(attempt.id)[0]
    admin = make_staff(role="admin")
    sign_in(client, admin)
    queue = client.get(f"{BASE}/revisiones").get_data(as_text=True)
    assert "Factura pagada dos veces" in queue and attempt.reference in queue
    token = page_csrf(client, f"{BASE}/revisiones/{review.id}")
    response = client.post(
        f"{BASE}/revisiones/{review.id}/resolver",
        data={"csrf_token": token, "decision": "devolver", "nota": "Se devuelve por el banco."},
    )
    assert response.status_code == 303
    assert money_state(attempt.id) == before
    review = db.session.get(PaymentReview, review.id, populate_existing=True)
    assert review.resolved_by == admin.email and review.resolved_at is not None
    assert (
        "Se devolverá el dinero" in review.resolution
        and "Se devuelve por el banco." in review.resolution
    )
    assert db.session.get(PaymentAttempt, attempt.id).review_reason is None
    audit = db.session.scalars(
        select(StaffAudit).where(StaffAudit.action == "review_resolved")
    ).one()
    assert audit.actor == admin.email and audit.target == attempt.reference
    assert "No hay pagos en revisión." in client.get(f"{BASE}/revisiones").get_data(as_text=True)
    resolved = client.get(f"{BASE}/revisiones?estado=resueltas").get_data(as_text=True)
    assert "Se devuelve por el banco." in resolved


def test_review_reason_stays_while_another_review_is_open(app, approved, insesp):
    attempt, _ = approved(insesp)
    flag_for_review(attempt.id, "primera razón", "mismatch")
    flag_for_review(attempt.id, "segunda razón", "late_answer")
    first, second = open_reviews(attempt.id)
    admin = make_staff(role="admin")
    assert reviews.resolve("insesp", first.id, admin, "correcto", "Revisado.")
    db.session.rollback()
    assert db.session.get(PaymentAttempt, attempt.id, populate_existing=True).review_reason == (
        "segunda razón"
    )
    assert reviews.resolve("insesp", second.id, admin, "correcto", "Revisado.")
    db.session.rollback()
    assert db.session.get(PaymentAttempt, attempt.id, populate_existing=True).review_reason is None


def test_a_review_is_resolved_once(app, approved, insesp):
    attempt, _ = approved(insesp)
    flag_for_review(attempt.id, "razón", "mismatch")
    review = open_reviews(attempt.id)[0]
    first, second = make_staff(role="admin"), make_staff(role="admin")
    assert reviews.resolve("insesp", review.id, first, "correcto", "Primera decisión.")
    assert not reviews.resolve("insesp", review.id, second, "otro", "Segunda decisión.")
    db.session.rollback()
    kept = db.session.get(PaymentReview, review.id, populate_existing=True)
    assert kept.resolved_by == first.email and "Primera decisión." in kept.resolution


def test_resolution_needs_a_decision_and_a_note(client, app, approved, insesp):
    attempt, _ = approved(insesp)
    flag_for_review(attempt.id, "razón", "mismatch")
    review = open_reviews(attempt.id)[0]
    sign_in(client, make_staff(role="admin"))
    token = page_csrf(client, f"{BASE}/revisiones/{review.id}")
    response = client.post(
        f"{BASE}/revisiones/{review.id}/resolver",
        data={"csrf_token": token, "decision": "inventada", "nota": ""},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Seleccione una de las decisiones de la lista." in html
    assert "Escriba una nota que explique la decisión." in html
    db.session.rollback()
    assert db.session.get(PaymentReview, review.id, populate_existing=True).resolved_at is None


def test_operador_sees_the_queue_but_cannot_resolve(client, app, approved, insesp):
    attempt, _ = approved(insesp)
    flag_for_review(attempt.id, "razón", "mismatch")
    review = open_reviews(attempt.id)[0]
    sign_in(client, make_staff(role="operador"))
    page = client.get(f"{BASE}/revisiones/{review.id}").get_data(as_text=True)
    assert "Solo un administrador puede resolver" in page and "Resolver revisión" not in page
    token = page_csrf(client, f"{BASE}/revisiones/{review.id}")
    response = client.post(
        f"{BASE}/revisiones/{review.id}/resolver",
        data={"csrf_token": token, "decision": "correcto", "nota": "x"},
    )
    assert response.status_code == 403
