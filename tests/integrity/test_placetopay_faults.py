"""PlacetoPay under faults, in process: every step fails in every way; nothing lost or doubled.

The emulator (``gaspay.sandbox.placetopay``) is reached through the real client over a requests
adapter that can fail on purpose: a timeout after the request arrived (the gateway acted, we did
not hear), a 500, a 200 that is not JSON, or a dropped connection. For the session's creation and
for the query on each of its three paths (the payer's return, the signed notification, the job)
the test proves: nothing is marked failed, declined or paid on a guess while the gateway is
unreachable; once the fault clears, the attempt reaches the gateway's own word; and the books
balance (0 lost, 0 doubled). Replays of one notification interleaved with the job move the
attempt exactly once. (The gunicorn rig of this folder runs the same matrix for Wompi.)
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from sqlalchemy import func, select, update

from gaspay.billing.models import PAID, Bill
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments import reconcile
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptTransition, PaymentAttempt
from gaspay.sandbox import placetopay as sandbox
from tests.payments_helpers import post_event
from tests.test_placetopay_flow import BANK, SLUG, FlaskAdapter, only_attempt, start
from tests.test_placetopay_flow import p2p_app as p2p_app
from tests.test_placetopay_flow import tenant as tenant

FAULTS = ("timeout", "500", "garbage", "close")
QUERY_PATHS = ("return", "notification", "job")
VERDICTS = {"timeout": "APPROVED", "500": "REJECTED", "garbage": "APPROVED", "close": "REJECTED"}


class Faults:
    """Which kind of call fails now (``create`` or ``query``), and how."""

    def __init__(self):
        self.step: str | None = None
        self.fault: str | None = None
        self.hits = 0


def faulty_send(faults: Faults, original):
    def send(self, request, **kwargs):
        path = request.url.split("/sandbox/placetopay", 1)[-1]
        step = "create" if path.rstrip("/") == "/api/session" else "query"
        if faults.fault is None or step != faults.step:
            return original(self, request, **kwargs)
        faults.hits += 1
        if faults.fault == "close":
            raise requests.ConnectionError("connection dropped")
        if faults.fault == "timeout":
            original(self, request, **kwargs)  # the gateway acted; its answer never came
            raise requests.ReadTimeout("read timed out")
        response = requests.Response()
        response.status_code = 500 if faults.fault == "500" else 200
        response._content = b"<html>Service Unavailable</html>"
        response.url = request.url
        response.request = request
        return response

    return send


@pytest.fixture
def faults(monkeypatch):
    found = Faults()
    monkeypatch.setattr(FlaskAdapter, "send", faulty_send(found, FlaskAdapter.send))
    return found


def due_now(attempt_id: int, *, age_minutes: int = 0) -> None:
    """Time passes: the attempt is due for the job (and, with ``age_minutes``, that old)."""
    values: dict = {"next_check_at": dt.datetime(2000, 1, 1), "checked_at": None}
    if age_minutes:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        values["created_at"] = now - dt.timedelta(minutes=age_minutes)
    with write_unit():
        db.session.execute(
            update(PaymentAttempt).where(PaymentAttempt.id == attempt_id).values(**values)
        )


def job(app) -> reconcile.ReconcileReport:
    return reconcile.reconcile_due(app.extensions["gaspay.tenants"])


def audit(app) -> None:
    """0 lost, 0 doubled: every session's word equals our attempt's; no bill paid twice."""
    db.session.rollback()
    for attempt in db.session.scalars(select(PaymentAttempt)).all():
        session = sandbox.get(int(attempt.gateway_txn_id)) if attempt.gateway_txn_id else None
        word = session.state if session else None
        if word == "APPROVED":
            assert attempt.status == T.APPROVED, "lost: approved at PlacetoPay, not here"
        if attempt.status == T.APPROVED:
            assert word == "APPROVED", "paid here on a guess"
        finals = db.session.scalar(
            select(func.count())
            .select_from(AttemptTransition)
            .where(
                AttemptTransition.attempt_id == attempt.id,
                AttemptTransition.to_status.in_(T.FINAL),
            )
        )
        assert finals == (1 if attempt.status in T.FINAL else 0)
    approved = db.session.scalar(
        select(func.count()).select_from(PaymentAttempt).where(PaymentAttempt.status == T.APPROVED)
    )
    paid = db.session.scalar(select(func.count()).select_from(Bill).where(Bill.state == PAID))
    assert approved == paid <= 1, "doubled"


@pytest.mark.parametrize("fault", FAULTS)
def test_create_fails(p2p_app, tenant, make_bill, faults, fault):
    faults.step, faults.fault = "create", fault
    bill = make_bill(tenant=SLUG)
    from tests.test_placetopay_flow import post_pse_step

    answer = post_pse_step(p2p_app, tenant, bill)
    assert answer.status_code == 303 and "/sandbox/" not in answer.headers["Location"]
    attempt = only_attempt()
    assert attempt.status == T.CREATED  # unknown: neither failed nor paid
    faults.fault = None
    due_now(attempt.id)
    job(p2p_app)
    assert only_attempt().status == T.CREATED  # too young to give up on
    due_now(attempt.id, age_minutes=120)
    job(p2p_app)
    assert only_attempt().status == T.EXPIRED  # PlacetoPay never had it (or it expired unpaid)
    audit(p2p_app)


@pytest.mark.parametrize("path", QUERY_PATHS)
@pytest.mark.parametrize("fault", FAULTS)
def test_query_fails(p2p_app, tenant, make_bill, faults, fault, path):
    attempt = start(p2p_app, tenant, make_bill)
    request_id = int(attempt.gateway_txn_id)
    sandbox.pay(request_id, BANK, VERDICTS[fault])
    faults.step, faults.fault = "query", fault
    client = p2p_app.test_client()
    if path == "return":
        page = client.get(f"/{SLUG}/pagos/{attempt.reference}")
        assert page.status_code in (200, 404) and "Traceback" not in page.get_data(as_text=True)
    elif path == "notification":
        merchant = sandbox.registry(p2p_app).by_slug[SLUG]
        body = sandbox.build_notification(sandbox.get(request_id), merchant, "sha256")
        answer, outcome = post_event(client, f"/{SLUG}/webhooks/placetopay", json=body)
        assert (answer.status_code, outcome) == (200, "unavailable")  # the worker asks again
    else:
        due_now(attempt.id)
        report = job(p2p_app)
        assert report.unavailable == 1 and not report.errors
    assert faults.hits >= 1
    assert only_attempt().status == T.PENDING  # nothing decided on a guess
    faults.fault = None
    due_now(attempt.id)
    job(p2p_app)
    final = only_attempt()
    assert final.status == (T.APPROVED if VERDICTS[fault] == "APPROVED" else T.DECLINED)
    audit(p2p_app)


def test_replayed_notifications_and_the_job_move_it_once(p2p_app, tenant, make_bill):
    attempt = start(p2p_app, tenant, make_bill)
    request_id = int(attempt.gateway_txn_id)
    sandbox.pay(request_id, BANK, "APPROVED")
    merchant = sandbox.registry(p2p_app).by_slug[SLUG]
    body = sandbox.build_notification(sandbox.get(request_id), merchant, "sha256")
    client = p2p_app.test_client()
    outcomes = []
    for i in range(10):
        outcomes.append(post_event(client, f"/{SLUG}/webhooks/placetopay", json=body)[1])
        if i % 3 == 0:
            due_now(attempt.id)
            job(p2p_app)
    assert outcomes[0] == "applied" and outcomes[1:] == ["duplicate"] * 9, outcomes
    assert only_attempt().status == T.APPROVED
    audit(p2p_app)
