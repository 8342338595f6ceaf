"""The outside review's findings on the payment core (issue 11), one test or more per point.

Each test was written against the old code first and failed there (see docs/RELIABILITY.md,
"Outside review").
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from gaspay.billing.models import PAID, UNPAID, Bill
from gaspay.billing.services import bill_token
from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments import transitions as T
from gaspay.payments.access import BROWSER_COOKIE, mail_capability
from gaspay.payments.models import PaymentAttempt, PaymentReview
from gaspay.payments.providers import safe_bank_url
from gaspay.payments.reconcile import reconcile_due
from gaspay.timeutil import as_utc, today_in_bogota, utcnow
from tests import fakes
from tests.conftest import csrf_from
from tests.payments_helpers import (
    answer,
    open_pse_attempt,
    payer_url,
    pending_attempt,
    post_event,
)

TXN = "1234-1-1"
PAYER_FACTS = ("Usuario Demo", "u@correo.test", "127.0.0.1", "CUS-778899", "BANCOLOMBIA")


def reload(attempt):
    return db.session.get(PaymentAttempt, attempt.id, populate_existing=True)


def reviews(attempt, kind=None):
    query = select(PaymentReview).where(PaymentReview.attempt_id == attempt.id)
    if kind:
        query = query.where(PaymentReview.kind == kind)
    return db.session.scalars(query).all()


def with_details(attempt, status="PENDING", **over):
    return answer(
        attempt, status=status, cus="CUS-778899", bank_name="BANCOLOMBIA", txn_id=TXN, **over
    )


# --- 1. a stranger with a client number reads at most status, amount, company and date ------


@pytest.fixture
def live(insesp, make_bill):
    attempt = open_pse_attempt(insesp, make_bill(client="0021053"))
    services.apply_answer(attempt, with_details(attempt), "payer")
    return attempt


def test_a_stranger_following_the_lookup_sees_no_payer_data(client, csrf, live, mocked):
    mocked.get(
        f"{fakes.API}/transactions/{TXN}",
        json={"data": fakes.transaction(txn_id=TXN, reference=live.reference, cus="CUS-778899")},
    )
    html = client.post("/insesp/factura", data={"numero": "21053", "csrf_token": csrf()}).get_data(
        as_text=True
    )
    assert "PENDIENTE" in html  # the standard pending rule, with its reference
    page = client.get(f"/insesp/pagos/{live.reference}").get_data(as_text=True)
    assert "Transacción Pendiente" in page and "$ 18.000" in page and "Insesp" in page
    for fact in PAYER_FACTS:
        assert fact not in page
    assert "Continuar al banco" not in page and "Reintentar" not in page


def test_a_stranger_with_the_gateways_transaction_id_sees_no_payer_data(client, live, mocked):
    mocked.get(
        f"{fakes.API}/transactions/{TXN}",
        json={"data": fakes.transaction(txn_id=TXN, reference=live.reference, status="APPROVED")},
    )
    page = client.get(f"/insesp/pagos/{live.reference}?id={TXN}").get_data(as_text=True)
    assert "Transacción Aprobada" in page
    for fact in PAYER_FACTS:
        assert fact not in page


def test_the_payers_mailbox_link_shows_it_in_full_and_remembers_the_browser(client, live):
    response = client.get(payer_url(live))
    page = response.get_data(as_text=True)
    for fact in PAYER_FACTS:
        assert fact in page
    cookie = client.get_cookie(BROWSER_COOKIE)
    assert cookie is not None and cookie.http_only
    # The polling fragment, without the capability, stays in full for this browser.
    again = client.get(f"/insesp/pagos/{live.reference}").get_data(as_text=True)
    assert "u@correo.test" in again


@pytest.mark.parametrize("forgery", ["other-reference", "other-tenant", "garbage"])
def test_a_forged_mailbox_link_shows_nothing_more(client, live, forgery, interservicios):
    token = {
        "other-reference": mail_capability(PaymentAttempt(tenant="insesp", reference="GPOTHER")),
        "other-tenant": mail_capability(
            PaymentAttempt(tenant="interservicios", reference=live.reference)
        ),
        "garbage": "abc.def",
    }[forgery]
    page = client.get(f"/insesp/pagos/{live.reference}?c={token}").get_data(as_text=True)
    assert "u@correo.test" not in page and "Usuario Demo" not in page
    assert client.get_cookie(BROWSER_COOKIE) is None


def test_a_forged_browser_cookie_shows_nothing_more(client, live):
    client.set_cookie(BROWSER_COOKIE, f'["insesp:{live.reference}"]')
    page = client.get(f"/insesp/pagos/{live.reference}").get_data(as_text=True)
    assert "u@correo.test" not in page


# --- 3. a bill that changed under a live payment is never paid silently -----------------------


def test_an_amount_changed_under_the_payment_goes_to_review(insesp, make_bill):
    bill = make_bill(amount_cents=1_800_000)
    attempt = pending_attempt(insesp, bill, txn_id=TXN)
    with services.write_unit():  # whatever changed it (an import, a hand edit)
        db.session.execute(update(Bill).where(Bill.id == bill.id).values(amount_cents=2_500_000))
    services.apply_answer(attempt, answer(attempt, "APPROVED", txn_id=TXN), "event")
    assert reload(attempt).status == T.APPROVED  # the gateway took the money: say so
    assert db.session.get(Bill, bill.id, populate_existing=True).state == UNPAID
    [review] = reviews(attempt, "amount_changed")
    assert "1800000" in review.reason and "2500000" in review.reason


def test_a_bill_paid_at_the_office_meanwhile_is_flagged_as_paid_twice(insesp, make_bill):
    bill = make_bill()
    attempt = pending_attempt(insesp, bill, txn_id=TXN)
    with services.write_unit():
        db.session.execute(update(Bill).where(Bill.id == bill.id).values(state=PAID))
    services.apply_answer(attempt, answer(attempt, "APPROVED", txn_id=TXN), "event")
    assert reload(attempt).status == T.APPROVED
    assert len(reviews(attempt, "paid_twice")) == 1


def test_an_unchanged_bill_is_paid_with_no_review(insesp, make_bill):
    bill = make_bill()
    attempt = pending_attempt(insesp, bill, txn_id=TXN)
    services.apply_answer(attempt, answer(attempt, "APPROVED", txn_id=TXN), "event")
    assert db.session.get(Bill, bill.id, populate_existing=True).state == PAID
    assert reviews(attempt) == []


# --- 4. one rule decides whether a bill can be paid now ----------------------------------------


@pytest.fixture
def overdue_token(app, insesp, make_bill):
    """A token handed out before midnight for a bill that has been overdue since."""
    bill = make_bill(due_on=today_in_bogota() - dt.timedelta(days=1))
    with app.test_request_context():
        return bill, bill_token(insesp, bill)


def test_open_attempt_refuses_an_overdue_bill(insesp, overdue_token):
    bill, _ = overdue_token
    with pytest.raises(services.BillNotPayable) as refused:
        open_pse_attempt(insesp, bill)
    assert refused.value.reason == "overdue"
    assert db.session.scalars(select(PaymentAttempt)).all() == []


def test_a_token_from_before_midnight_does_not_reach_the_bank_step(client, overdue_token):
    _, token = overdue_token
    response = client.get(f"/insesp/pse/pagar?factura={token}")
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "ya no se puede pagar en línea" in html
    assert "Clic para continuar con el pago" not in html


def test_a_token_from_before_midnight_cannot_pay(client, mocked, insesp, overdue_token, csrf):
    _, token = overdue_token
    mocked.get(
        f"{fakes.API}/merchants/{insesp.wompi.public_key}",
        json=fakes.merchant(insesp.wompi.public_key),
    )
    mocked.get(f"{fakes.API}/pse/financial_institutions", json=fakes.BANKS)
    data = {
        "csrf_token": csrf(),
        "factura": token,
        "tipo_cliente": "0",
        "banco": "1007",
        "tipo_documento": "CC",
        "documento": "1099888777",
        "nombre": "Usuario Demo",
        "email": "u@correo.test",
        "telefono": "3001234567",
        "acepta_terminos": "y",
        "acepta_datos": "y",
    }
    response = client.post("/insesp/pse/pagar", data=data)
    assert response.status_code == 409
    assert "ya no se puede pagar en línea" in response.get_data(as_text=True)
    assert [c for c in mocked.calls if c.request.method == "POST"] == []


# --- 5. a contradicting late answer flags the payment; the state stays final ------------------


@pytest.mark.parametrize(
    ("late", "source"),
    [("VOIDED", "event"), ("DECLINED", "event"), ("DECLINED", "job"), ("PENDING", "job")],
)
def test_a_contradicting_late_answer_is_flagged(insesp, make_bill, late, source):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    services.apply_answer(attempt, answer(attempt, "APPROVED", txn_id=TXN), "event")
    services.apply_answer(reload(attempt), answer(attempt, late, txn_id=TXN), source)
    assert reload(attempt).status == T.APPROVED
    [review] = reviews(attempt, "late_answer")
    assert late in review.reason


@pytest.mark.parametrize(("late", "source"), [("APPROVED", "event"), ("PENDING", "event")])
def test_a_repeated_or_stale_answer_is_not_a_contradiction(insesp, make_bill, late, source):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    services.apply_answer(attempt, answer(attempt, "APPROVED", txn_id=TXN), "event")
    services.apply_answer(reload(attempt), answer(attempt, late, txn_id=TXN), source)
    assert reviews(attempt) == []


def test_the_same_contradiction_twice_is_one_review(insesp, make_bill):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    services.apply_answer(attempt, answer(attempt, "APPROVED", txn_id=TXN), "event")
    for _ in range(3):
        services.apply_answer(reload(attempt), answer(attempt, "VOIDED", txn_id=TXN), "event")
    assert len(reviews(attempt)) == 1


# --- 6. an unknown gateway status is no definite answer ----------------------------------------


def test_an_unknown_status_in_an_event_is_flagged_and_answered_200(client, insesp, make_bill):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    txn = fakes.transaction(
        txn_id=TXN, reference=attempt.reference, status="REFUNDED_SOMEHOW", amount=1_800_000
    )
    body, headers = fakes.event(txn, insesp.wompi.events_secret)
    response, _ = post_event(client, "/insesp/webhooks/wompi", data=body, headers=headers)
    assert response.status_code == 200
    assert reload(attempt).status == T.PENDING
    assert len(reviews(attempt, "unknown_status")) == 1


def test_the_job_survives_a_poison_attempt_and_resolves_the_others(
    app, mocked, insesp, make_bill, tenants
):
    attempts = [
        pending_attempt(insesp, make_bill(client=str(100 + i)), txn_id=f"9-9-{i}") for i in range(3)
    ]
    with services.write_unit():
        db.session.execute(
            update(PaymentAttempt).values(next_check_at=utcnow() - dt.timedelta(minutes=1))
        )
    statuses = ["APPROVED", "NOT_A_STATUS", "DECLINED"]
    for attempt, status in zip(attempts, statuses, strict=True):
        txn_id = attempt.gateway_txn_id
        mocked.get(
            f"{fakes.API}/transactions/{txn_id}",
            json={
                "data": fakes.transaction(txn_id=txn_id, reference=attempt.reference, status=status)
            },
        )
    report = reconcile_due(tenants)
    assert [reload(a).status for a in attempts] == [T.APPROVED, T.PENDING, T.DECLINED]
    assert report.transitions == 2
    poison = reload(attempts[1])
    assert poison.next_check_at is not None and len(reviews(poison, "unknown_status")) == 1


def test_an_attempt_that_raises_does_not_stop_the_job(app, mocked, insesp, make_bill, tenants):
    first = pending_attempt(insesp, make_bill(client="201"), txn_id="8-8-1")
    second = pending_attempt(insesp, make_bill(client="202"), txn_id="8-8-2")
    with services.write_unit():
        db.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == first.id)
            .values(next_check_at=utcnow() - dt.timedelta(minutes=2))
        )
        db.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == second.id)
            .values(next_check_at=utcnow() - dt.timedelta(minutes=1))
        )
    mocked.get(f"{fakes.API}/transactions/8-8-1", body=ValueError("a bug somewhere"))
    mocked.get(
        f"{fakes.API}/transactions/8-8-2",
        json={
            "data": fakes.transaction(txn_id="8-8-2", reference=second.reference, status="APPROVED")
        },
    )
    report = reconcile_due(tenants)
    assert reload(second).status == T.APPROVED
    assert len(report.errors) == 1 and as_utc(reload(first).next_check_at) > utcnow()


# --- 7. every live attempt has a next check -----------------------------------------------------


def test_a_checkout_retry_is_scheduled_for_reconciliation(insesp, make_bill):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    services.apply_answer(attempt, answer(attempt, "DECLINED", txn_id=TXN), "event")
    services.apply_answer(reload(attempt), answer(attempt, "PENDING", txn_id="1234-1-2"), "event")
    retry = db.session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.retry_of_id == attempt.id)
    ).one()
    assert retry.status == T.PENDING and retry.next_check_at is not None


def test_the_job_sweeps_live_attempts_without_a_next_check(mocked, insesp, make_bill, tenants):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    with services.write_unit():
        db.session.execute(update(PaymentAttempt).values(next_check_at=None))
    mocked.get(
        f"{fakes.API}/transactions/{TXN}",
        json={
            "data": fakes.transaction(txn_id=TXN, reference=attempt.reference, status="APPROVED")
        },
    )
    reconcile_due(tenants)
    assert reload(attempt).status == T.APPROVED


# --- 8. a create answer that differs from our record never sends the payer to the bank --------


@pytest.mark.parametrize(
    "field", [("amount", 1_900_000), ("currency", "USD"), ("reference", "GPSOMEONEELSE")]
)
def test_a_create_answer_that_differs_stops_the_payment(
    client, mocked, insesp, make_bill, app, field
):
    bill = make_bill()
    with app.test_request_context():
        url = f"/insesp/pse/pagar?factura={bill_token(insesp, bill)}"
    mocked.get(
        f"{fakes.API}/merchants/{insesp.wompi.public_key}",
        json=fakes.merchant(insesp.wompi.public_key),
    )
    mocked.get(f"{fakes.API}/pse/financial_institutions", json=fakes.BANKS)
    seen = {}

    def create(request):
        sent = json.loads(request.body)
        seen["reference"] = sent["reference"]
        values = {"txn_id": TXN, "reference": sent["reference"], "url": "https://banco.test/x"}
        values[field[0]] = field[1]
        return 201, {}, json.dumps({"data": fakes.transaction(**values)})

    mocked.add_callback("POST", f"{fakes.API}/transactions", callback=create)
    mocked.get(
        f"{fakes.API}/transactions/{TXN}",
        json={"data": fakes.transaction(txn_id=TXN, url="https://banco.test/x")},
    )
    page = client.get(url).get_data(as_text=True)
    data = {
        "csrf_token": csrf_from(page),
        "factura": url.split("factura=")[1],
        "tipo_cliente": "0",
        "banco": "1007",
        "tipo_documento": "CC",
        "documento": "1099888777",
        "nombre": "Usuario Demo",
        "email": "u@correo.test",
        "telefono": "3001234567",
        "acepta_terminos": "y",
        "acepta_datos": "y",
    }
    response = client.post("/insesp/pse/pagar", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "Location" not in response.headers
    assert "no lo enviamos al banco" in html and insesp.support_phone in html
    attempt = db.session.scalars(select(PaymentAttempt)).one()
    assert attempt.status in T.LIVE and len(reviews(attempt, "create_mismatch")) == 1


# --- 9. the status page asks the gateway at most every few seconds, whatever the URL says ------


def test_the_status_page_is_throttled_whatever_the_query_string(client, live, mocked):
    for i in range(10):  # transaction ids the gateway does not know
        mocked.get(f"{fakes.API}/transactions/1-{i}", status=404, json={"error": {}})
    for i in range(10):
        assert client.get(f"/insesp/pagos/{live.reference}?id=1-{i}").status_code == 200
    assert len(mocked.calls) <= 1


def test_the_status_page_is_rate_limited(make_app, make_bill):
    app = make_app(RESULT_RATE_LIMIT="5 per minute")
    with app.app_context():
        from tests.conftest import _empty_tables

        _empty_tables()
        tenant = app.extensions["gaspay.tenants"]["insesp"]
        attempt = open_pse_attempt(tenant, make_bill())
        with services.write_unit():
            db.session.execute(update(PaymentAttempt).values(checked_at=utcnow()))
        client = app.test_client()
        codes = [client.get(f"/insesp/pagos/{attempt.reference}").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[-1] == 429


# --- 17. bank URLs from the gateway must be https in production -----------------------------------


def test_a_bank_url_that_is_not_https_is_refused_in_production(app):
    assert safe_bank_url("http://sandbox.test/banco") == "http://sandbox.test/banco"
    app.config.update(PRODUCTION=True)
    try:
        assert safe_bank_url("http://banco.test/pse") is None
        assert safe_bank_url("javascript:alert(1)") is None
        assert safe_bank_url("https://banco.test/pse") == "https://banco.test/pse"
    finally:
        app.config.update(PRODUCTION=False)


# --- 18. a payment the gateway keeps answering PENDING goes to review, and stays held ----------


def test_a_payment_pending_past_the_limit_is_flagged_once_and_asked_less_often(
    mocked, insesp, make_bill, tenants, client
):
    bill = make_bill()
    attempt = pending_attempt(insesp, bill, txn_id=TXN)
    long_ago = utcnow() - dt.timedelta(hours=insesp.pending_review_hours + 1)
    with services.write_unit():
        db.session.execute(
            update(PaymentAttempt).values(
                created_at=long_ago, next_check_at=utcnow() - dt.timedelta(minutes=1)
            )
        )
    mocked.get(
        f"{fakes.API}/transactions/{TXN}",
        json={"data": fakes.transaction(txn_id=TXN, reference=attempt.reference)},
    )
    reconcile_due(tenants)
    flagged = reload(attempt)
    assert flagged.status == T.PENDING and flagged.stuck_flagged_at is not None
    assert as_utc(flagged.next_check_at) - utcnow() > dt.timedelta(minutes=30)  # the slower pace
    assert len(reviews(attempt, "stuck_pending")) == 1
    with services.write_unit():  # the next round, much later
        db.session.execute(
            update(PaymentAttempt).values(next_check_at=utcnow() - dt.timedelta(minutes=1))
        )
    reconcile_due(tenants)
    assert len(reviews(attempt, "stuck_pending")) == 1
    assert services.holds_for_bills(insesp, [bill.id])  # still held: the money may still move
    page = client.get(payer_url(attempt)).get_data(as_text=True)
    assert "PENDIENTE" in page and insesp.support_phone in page


# --- found attacking the fixes: the CUS is the payer's too ----------------------------------------


def test_the_lookup_shows_the_cus_only_to_the_browser_that_paid(client, csrf, live, insesp):
    page = client.post("/insesp/factura", data={"numero": "21053", "csrf_token": csrf()})
    html = page.get_data(as_text=True)
    assert "PENDIENTE" in html and live.reference in html and "CUS-778899" not in html
    services.apply_answer(live, with_details(live, "APPROVED"), "event")
    html = client.post("/insesp/factura", data={"numero": "21053", "csrf_token": csrf()}).get_data(
        as_text=True
    )
    assert "ya fue pagada" in html and "CUS-778899" not in html
    client.get(payer_url(live))  # the payer's own browser (the mailbox link remembers it)
    html = client.post("/insesp/factura", data={"numero": "21053", "csrf_token": csrf()}).get_data(
        as_text=True
    )
    assert "CUS-778899" in html


def test_a_receipt_link_never_takes_an_untrusted_host(client, live, mocked, app):
    """A stranger's request with a forged Host header causes the approval: the e-mail's link
    still points to this portal (the sandbox's address here, PUBLIC_URL in production)."""
    from gaspay.outbox.models import OutboxMessage

    mocked.get(
        f"{fakes.API}/transactions/{TXN}",
        json={"data": fakes.transaction(txn_id=TXN, reference=live.reference, status="APPROVED")},
    )
    client.get(f"/insesp/pagos/{live.reference}?id={TXN}", headers={"Host": "evil.example"})
    assert reload(live).status == T.APPROVED
    payloads = db.session.scalars(select(OutboxMessage.payload)).all()
    assert payloads and not any("evil.example" in str(p) for p in payloads)
