"""Attempts: holds (one live attempt per bill), compare-and-set transitions, audit, bills."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptTransition, BillHold, PaymentAttempt
from tests.payments_helpers import answer, open_pse_attempt, pending_attempt


def audit(attempt):
    return db.session.scalars(
        select(AttemptTransition)
        .where(AttemptTransition.attempt_id == attempt.id)
        .order_by(AttemptTransition.id)
    ).all()


def reload(attempt):
    return db.session.get(PaymentAttempt, attempt.id, populate_existing=True)


def test_attempt_is_recorded_with_a_short_safe_reference(app, make_bill, insesp):
    bill = make_bill()
    attempt = open_pse_attempt(insesp, bill)
    assert attempt.status == T.CREATED and attempt.amount_cents == 1_800_000
    assert attempt.reference.startswith("GP") and len(attempt.reference) == 12
    assert attempt.reference.isalnum() and attempt.next_check_at is not None
    assert db.session.get(BillHold, bill.id).attempt_id == attempt.id


def test_second_attempt_on_a_held_bill_is_refused(app, make_bill, insesp):
    bill = make_bill()
    first = open_pse_attempt(insesp, bill)
    with pytest.raises(services.BillBusy) as info:
        open_pse_attempt(insesp, bill)
    assert info.value.attempt.id == first.id
    assert db.session.scalar(select(db.func.count()).select_from(PaymentAttempt)) == 1


def test_paid_bill_cannot_be_attempted(app, make_bill, insesp):
    with pytest.raises(services.BillNotPayable):
        open_pse_attempt(insesp, make_bill(state="paid"))


def test_bill_of_another_tenant_cannot_be_attempted(app, make_bill, insesp):
    with pytest.raises(services.BillNotPayable):
        open_pse_attempt(insesp, make_bill(tenant="interservicios"))


def test_approval_pays_the_bill_keeps_the_hold_and_audits(app, make_bill, insesp):
    bill = make_bill()
    attempt = pending_attempt(insesp, bill)
    assert services.apply_answer(attempt, answer(attempt, "APPROVED", cus="CUS-1"), "event")
    attempt = reload(attempt)
    assert attempt.status == T.APPROVED and attempt.cus == "CUS-1"
    assert attempt.finalized_at is not None and attempt.next_check_at is None
    db.session.refresh(bill)
    assert bill.state == "paid" and bill.paid_at is not None
    assert db.session.get(BillHold, bill.id) is not None  # a paid bill stays held
    steps = [(a.from_status, a.to_status, a.source) for a in audit(attempt)]
    assert steps == [("created", "pending", "payer"), ("pending", "approved", "event")]
    assert audit(attempt)[-1].gateway_txn_id == "1234-1-1"


@pytest.mark.parametrize("status", ["DECLINED", "ERROR", "VOIDED"])
def test_failure_releases_the_bill_for_a_new_attempt(app, make_bill, insesp, status):
    bill = make_bill()
    attempt = pending_attempt(insesp, bill)
    services.apply_answer(attempt, answer(attempt, status), "event")
    assert db.session.get(BillHold, bill.id) is None
    db.session.refresh(bill)
    assert bill.state == "unpaid"
    assert open_pse_attempt(insesp, bill).id != attempt.id


def test_late_events_after_approval_are_ignored(app, make_bill, insesp):
    attempt = pending_attempt(insesp, make_bill())
    services.apply_answer(attempt, answer(attempt, "APPROVED"), "event")
    for late in ("PENDING", "DECLINED", "ERROR"):
        assert not services.apply_answer(attempt, answer(attempt, late), "event")
    assert reload(attempt).status == T.APPROVED
    assert len(audit(attempt)) == 2


def test_duplicate_answer_changes_state_once(app, make_bill, insesp):
    attempt = pending_attempt(insesp, make_bill())
    results = [
        services.apply_answer(attempt, answer(attempt, "APPROVED"), "event") for _ in range(3)
    ]
    assert results == [True, False, False]
    assert len(audit(attempt)) == 2


def test_compare_and_set_refuses_a_stale_status(app, make_bill, insesp):
    attempt = pending_attempt(insesp, make_bill())
    stale = SimpleNamespace(
        id=attempt.id, status=T.PENDING, tenant=attempt.tenant, gateway_txn_id="1234-1-1"
    )
    assert services.transition(attempt.id, T.GATEWAY_DECLINED, "event")
    # A writer that still believes the attempt is pending must not move it.
    with services.write_unit():
        assert not services._write_transition(stale, T.APPROVED, "job", None)
    assert reload(attempt).status == T.DECLINED


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount_cents", 100), ("currency", "USD"), ("reference", "GPOTHER00000")],
)
def test_mismatch_is_flagged_and_never_paid(app, make_bill, insesp, field, value):
    bill = make_bill()
    attempt = pending_attempt(insesp, bill)
    assert not services.apply_answer(
        attempt, answer(attempt, "APPROVED", **{field: value}), "event"
    )
    attempt = reload(attempt)
    assert attempt.status == T.PENDING and attempt.review_reason
    db.session.refresh(bill)
    assert bill.state == "unpaid"


def test_approval_after_expiry_is_flagged_for_review(app, make_bill, insesp):
    attempt = open_pse_attempt(insesp, make_bill())
    services.transition(attempt.id, T.EXPIRE, "job")
    assert not services.apply_answer(attempt, answer(attempt, "APPROVED"), "event")
    attempt = reload(attempt)
    assert attempt.status == T.EXPIRED and "APPROVED" in attempt.review_reason


def test_second_transaction_under_one_reference_gets_its_own_row(app, make_bill, interservicios):
    bill = make_bill(tenant="interservicios", client="100245")
    first = services.open_attempt(
        interservicios, [bill], gateway="wompi", description="Aviso", payer={}
    )
    services.apply_answer(first, answer(first, "DECLINED", txn_id="T-1"), "event")
    assert services.apply_answer(first, answer(first, "APPROVED", txn_id="T-2"), "event")
    retry = services.find_by_transaction_tenant("interservicios", "wompi", "T-2")
    assert retry.retry_of_id == first.id and retry.status == T.APPROVED
    assert reload(first).status == T.DECLINED
    db.session.refresh(bill)
    assert bill.state == "paid"
    assert services.get_attempt(interservicios, first.reference).id == retry.id


def test_pending_answer_keeps_the_cus_and_bank_without_a_transition(app, make_bill, insesp):
    attempt = pending_attempt(insesp, make_bill())
    update = answer(attempt, "PENDING", cus="99001122", bank_name="BANCOLOMBIA")
    assert not services.apply_answer(attempt, update, "payer")
    attempt = reload(attempt)
    assert attempt.status == T.PENDING and attempt.cus == "99001122"
    assert attempt.bank_name == "BANCOLOMBIA" and len(audit(attempt)) == 1
