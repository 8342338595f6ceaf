"""The reconciliation job: only due attempts, definite answers only, exactly one transition
when it races itself or an event; and concurrent payers of one bill."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import requests
from sqlalchemy import func, select, update

from gaspay.billing.models import Bill
from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptTransition, BillHold, PaymentAttempt
from gaspay.payments.reconcile import reconcile_due
from gaspay.timeutil import utcnow
from tests import fakes
from tests.payments_helpers import open_pse_attempt, pending_attempt, post_event

TXN = "1234-1-1"


def make_due(attempt, minutes_ago=1, **values):
    with services.write_unit():
        db.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == attempt.id)
            .values(next_check_at=utcnow() - dt.timedelta(minutes=minutes_ago), **values)
        )


def reload(attempt):
    return db.session.get(PaymentAttempt, attempt.id, populate_existing=True)


def transitions_to(status):
    return db.session.scalar(
        select(func.count())
        .select_from(AttemptTransition)
        .where(AttemptTransition.to_status == status)
    )


def gateway_says(mocked, attempt, status, txn_id=TXN):
    mocked.get(
        f"{fakes.API}/transactions/{txn_id}",
        json={
            "data": fakes.transaction(
                txn_id=txn_id, reference=attempt.reference, status=status, cus="4455"
            )
        },
    )


def test_only_due_live_attempts_are_checked(app, mocked, insesp, make_bill, tenants):
    due = pending_attempt(insesp, make_bill(client="1"), txn_id="1-1-1")
    later = pending_attempt(insesp, make_bill(client="2"), txn_id="2-2-2")
    make_due(due)
    make_due(later, minutes_ago=-30)
    gateway_says(mocked, due, "APPROVED", txn_id="1-1-1")
    report = reconcile_due(tenants)
    assert (report.due, report.checked, report.transitions) == (1, 1, 1)
    assert reload(due).status == T.APPROVED and reload(later).status == T.PENDING
    assert len(mocked.calls) == 1
    last = db.session.scalars(
        select(AttemptTransition).order_by(AttemptTransition.id.desc())
    ).first()
    assert last.source == "job" and last.to_status == T.APPROVED


def test_cli_command_reports(runner, mocked, insesp, make_bill):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    make_due(attempt)
    gateway_says(mocked, attempt, "DECLINED")
    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 0 and "transitions=1" in result.output
    assert reload(attempt).status == T.DECLINED


@pytest.mark.parametrize("failure", ["timeout", "500", "garbage"])
def test_unavailable_gateway_reschedules_and_changes_nothing(
    app, mocked, insesp, make_bill, tenants, failure
):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    make_due(attempt)
    url = f"{fakes.API}/transactions/{TXN}"
    if failure == "timeout":
        mocked.get(url, body=requests.exceptions.ReadTimeout())
    elif failure == "500":
        mocked.get(url, status=500)
    else:
        mocked.get(url, body="{{{")
    report = reconcile_due(tenants)
    assert report.unavailable == 1 and report.transitions == 0
    attempt = reload(attempt)
    assert attempt.status == T.PENDING and attempt.checks == 1
    assert attempt.next_check_at.replace(tzinfo=dt.UTC) > utcnow() + dt.timedelta(minutes=11)


def test_still_pending_is_checked_again_twelve_minutes_later(
    app, mocked, insesp, make_bill, tenants
):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    make_due(attempt)
    gateway_says(mocked, attempt, "PENDING")
    reconcile_due(tenants)
    attempt = reload(attempt)
    wait = attempt.next_check_at.replace(tzinfo=dt.UTC) - utcnow()
    assert dt.timedelta(minutes=11) < wait <= dt.timedelta(minutes=12)
    assert reconcile_due(tenants).due == 0


def test_unknown_creation_is_found_by_reference(app, mocked, insesp, make_bill, tenants):
    attempt = open_pse_attempt(insesp, make_bill())
    make_due(attempt)
    mocked.get(
        f"{fakes.API}/transactions",
        json={
            "data": [
                fakes.transaction(txn_id="7-7-7", reference=attempt.reference, status="APPROVED")
            ]
        },
    )
    reconcile_due(tenants)
    attempt = reload(attempt)
    assert attempt.status == T.APPROVED and attempt.gateway_txn_id == "7-7-7"
    call = mocked.calls[0].request
    assert call.headers["Authorization"] == f"Bearer {insesp.wompi.private_key}"


def test_creation_that_never_reached_the_gateway_expires(app, mocked, insesp, make_bill, tenants):
    bill = make_bill()
    attempt = open_pse_attempt(insesp, bill)
    mocked.get(f"{fakes.API}/transactions", json={"data": []})
    make_due(attempt)
    reconcile_due(tenants)
    assert reload(attempt).status == T.CREATED  # too young to give up on
    make_due(attempt, created_at=utcnow() - dt.timedelta(hours=2))
    reconcile_due(tenants)
    assert reload(attempt).status == T.EXPIRED
    assert db.session.get(BillHold, bill.id) is None


def _in_threads(app, *functions):
    db.session.rollback()  # hold no snapshot or lock while the threads write
    barrier = threading.Barrier(len(functions))
    errors = []

    def run(fn):
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                fn()
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in functions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    db.session.rollback()  # see the threads' commits, not this session's old snapshot
    return errors


def test_job_twice_at_once_transitions_once(app, mocked, insesp, make_bill, tenants):
    attempts = [
        pending_attempt(insesp, make_bill(client=str(i)), txn_id=f"{i}-0-0") for i in range(1, 6)
    ]
    for attempt in attempts:
        make_due(attempt)
        gateway_says(mocked, attempt, "APPROVED", txn_id=attempt.gateway_txn_id)
    reports = []
    errors = _in_threads(app, *[lambda: reports.append(reconcile_due(tenants))] * 2)
    assert errors == []
    assert sum(r.transitions for r in reports) == 5
    assert transitions_to(T.APPROVED) == 5


def test_job_and_event_racing_yield_one_transition(app, mocked, insesp, make_bill, tenants):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    make_due(attempt)
    gateway_says(mocked, attempt, "APPROVED")
    body, headers = fakes.event(
        fakes.transaction(txn_id=TXN, reference=attempt.reference, status="APPROVED"),
        insesp.wompi.events_secret,
    )
    client = app.test_client()
    codes = []
    errors = _in_threads(
        app,
        lambda: reconcile_due(tenants),
        lambda: codes.append(
            post_event(client, "/insesp/webhooks/wompi", data=body, headers=headers)[0].status_code
        ),
    )
    assert errors == [] and codes == [200]
    assert reload(attempt).status == T.APPROVED
    assert transitions_to(T.APPROVED) == 1


def test_concurrent_pays_of_one_bill_one_attempt_wins(app, insesp, make_bill):
    bill_id = make_bill().id
    outcomes = []

    def pay():
        try:
            bill = db.session.get(Bill, bill_id)
            outcomes.append(open_pse_attempt(insesp, bill).reference)
        except services.BillBusy as busy:
            outcomes.append(("busy", busy.attempt.reference))

    errors = _in_threads(app, *[pay] * 8)
    assert errors == []
    winners = [o for o in outcomes if isinstance(o, str)]
    assert len(winners) == 1
    assert all(o == ("busy", winners[0]) for o in outcomes if not isinstance(o, str))
    assert db.session.scalar(select(func.count()).select_from(PaymentAttempt)) == 1
