"""Several bills in one payment, and partial payments ("abono") — issue 14.

Selection rules, oldest first, minimum and maximum abono, balances after several partial
approvals, the over-payment flag; and the two races: overlapping selections, and two abonos
approved at once on one bill.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from gaspay.billing.models import PAID, UNPAID, Bill
from gaspay.billing.services import bill_token
from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptBill, BillHold, PaymentAttempt, PaymentReview
from gaspay.timeutil import today_in_bogota
from tests import fakes
from tests.conftest import csrf_from
from tests.payments_helpers import answer
from tests.test_reconcile import _in_threads

TODAY = today_in_bogota()
PAYER = {"payer_name": "Usuario Demo", "payer_email": "u@correo.test", "payer_ip": "127.0.0.1"}


def two_bills(make_bill, client="0021056"):
    older = make_bill(client=client, amount_cents=1_800_000, due_on=TODAY + dt.timedelta(days=3))
    newer = make_bill(client=client, amount_cents=2_000_000, due_on=TODAY + dt.timedelta(days=30))
    return older, newer


def open_for(tenant, bills, amounts=None):
    return services.open_attempt(
        tenant, bills, gateway="pse", description="Factura", payer=PAYER, amounts=amounts
    )


def approve(attempt, txn_id):
    services.apply_answer(attempt, answer(attempt, "PENDING", txn_id=txn_id), "payer")
    services.apply_answer(attempt, answer(attempt, "APPROVED", txn_id=txn_id), "event")


def state(bill):
    return db.session.get(Bill, bill.id, populate_existing=True).state


def kinds(attempt):
    return db.session.scalars(
        select(PaymentReview.kind).where(PaymentReview.attempt_id == attempt.id)
    ).all()


# --- selection rules ---------------------------------------------------------------------------


def test_one_attempt_pays_several_bills(insesp, make_bill):
    older, newer = two_bills(make_bill)
    attempt = open_for(insesp, [older, newer])
    assert attempt.amount_cents == 3_800_000
    assert {(ab.bill_id, ab.amount_cents) for ab in attempt.bills} == {
        (older.id, 1_800_000),
        (newer.id, 2_000_000),
    }
    assert db.session.scalar(select(func.count()).select_from(BillHold)) == 2
    approve(attempt, "7-7-1")
    assert (state(older), state(newer)) == (PAID, PAID)


def test_oldest_first_refuses_leaving_an_older_bill(insesp, make_bill):
    assert insesp.pay_oldest_first
    older, newer = two_bills(make_bill)
    with pytest.raises(services.SelectionRefused) as refused:
        open_for(insesp, [newer])
    assert older.bill_number in refused.value.message
    assert open_for(insesp, [older]).amount_cents == 1_800_000  # the oldest alone is fine


def test_oldest_first_ignores_an_older_bill_already_being_paid(insesp, make_bill):
    older, newer = two_bills(make_bill)
    open_for(insesp, [older])
    assert open_for(insesp, [newer]).amount_cents == 2_000_000


def test_a_bill_taken_meanwhile_is_named_and_nothing_is_opened(insesp, make_bill):
    older, newer = two_bills(make_bill)
    first = services.open_attempt(insesp, [older], gateway="pse", description="x", payer=PAYER)
    with pytest.raises(services.BillBusy) as busy:
        open_for(insesp, [older, newer])
    assert busy.value.bill_ids == [older.id] and busy.value.attempt.id == first.id
    assert db.session.scalar(select(func.count()).select_from(PaymentAttempt)) == 1


# --- abono: minimum, maximum, balances ---------------------------------------------------------


@pytest.mark.parametrize(
    ("pesos", "message"),
    [
        (4_999, "El valor mínimo para abonar es $ 5.000."),
        (18_001, "no puede ser mayor que el saldo pendiente"),
    ],
)
def test_an_abono_outside_minimum_and_balance_is_refused(insesp, make_bill, pesos, message):
    bill = make_bill(amount_cents=1_800_000)
    with pytest.raises(services.SelectionRefused) as refused:
        open_for(insesp, [bill], {bill.id: pesos * 100})
    assert message in refused.value.message


def test_a_company_without_abonos_refuses_a_partial_amount(interservicios, make_bill, app):
    from dataclasses import replace

    no_partial = replace(interservicios, partial=None)
    bill = make_bill(tenant="interservicios", client="100245")
    with pytest.raises(services.SelectionRefused) as refused:
        services.open_attempt(
            no_partial,
            [bill],
            gateway="wompi",
            description="x",
            payer=PAYER,
            amounts={bill.id: 1_000_000},
        )
    assert "solo se puede pagar por el total" in refused.value.message


def test_abonos_add_up_and_the_last_one_closes_the_bill(insesp, make_bill):
    bill = make_bill(amount_cents=1_800_000)
    first = open_for(insesp, [bill], {bill.id: 1_000_000})
    approve(first, "5-5-1")
    assert state(bill) == UNPAID and services.balances([bill])[bill.id] == 800_000
    assert db.session.get(BillHold, bill.id) is None  # free for the next abono
    second = open_for(insesp, [bill], {bill.id: 500_000})
    approve(second, "5-5-2")
    assert services.balances([bill])[bill.id] == 300_000
    last = open_for(insesp, [bill])  # the rest, by default
    assert last.amount_cents == 300_000
    approve(last, "5-5-3")
    assert state(bill) == PAID and services.balances([bill])[bill.id] == 0
    assert all(kinds(a) == [] for a in (first, second, last))


def test_an_approval_that_would_overpay_a_bill_is_flagged(insesp, make_bill):
    """Two abonos approved for the same balance: a checkout retry of a declined attempt."""
    bill = make_bill(amount_cents=1_800_000)
    early = open_for(insesp, [bill], {bill.id: 1_000_000})
    services.apply_answer(early, answer(early, "DECLINED", txn_id="6-6-1"), "event")
    later = open_for(insesp, [bill], {bill.id: 1_000_000})
    approve(later, "6-6-2")
    # The declined attempt's retry under the same reference is approved after all.
    services.apply_answer(early, answer(early, "APPROVED", txn_id="6-6-3"), "event")
    retry = db.session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.retry_of_id == early.id)
    ).one()
    assert retry.status == T.APPROVED and "overpaid" in kinds(retry)
    # Covered, and more: paid, never a negative balance; staff refund the excess.
    assert services.balances([bill])[bill.id] == 0 and state(bill) == PAID


# --- the pages ---------------------------------------------------------------------------------


def lookup_html(client, csrf, number="21056"):
    response = client.post("/insesp/factura", data={"numero": number, "csrf_token": csrf()})
    return response.get_data(as_text=True)


def test_the_lookup_ticks_every_payable_bill_and_recalculates(client, csrf, make_bill):
    two_bills(make_bill)
    html = lookup_html(client, csrf)
    assert "Pagar $ 38.000" in html and html.count(" checked") == 2
    offered = re.findall(r'name="ofrecida" value="([^"]+)"', html)
    ticked = re.findall(r'name="factura" value="([^"]+)" form="seleccion"', html)
    assert len(offered) == 2 and len(ticked) == 2
    # "Recalcular" without JavaScript: only the newer one ticked -> refused, oldest first.
    query = "&".join([*(f"ofrecida={t}" for t in offered), f"factura={ticked[1]}"])
    page = client.get(f"/insesp/factura/seleccion?{query}").get_data(as_text=True)
    assert "Primero debe pagar las facturas más antiguas" in page and "Pagar $" not in page
    # With htmx: just the total, for the older one alone.
    query = "&".join([*(f"ofrecida={t}" for t in offered), f"factura={ticked[0]}"])
    fragment = client.get(
        f"/insesp/factura/seleccion?{query}", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "<html" not in fragment and "Pagar $ 18.000" in fragment


@pytest.fixture
def gateway(mocked, insesp):
    mocked.get(
        f"{fakes.API}/merchants/{insesp.wompi.public_key}",
        json=fakes.merchant(insesp.wompi.public_key),
    )
    mocked.get(f"{fakes.API}/pse/financial_institutions", json=fakes.BANKS)
    created = {}

    def create(request):
        sent = json.loads(request.body)
        created.update(sent)
        txn = fakes.transaction(
            txn_id="3-3-3",
            reference=sent["reference"],
            amount=sent["amount_in_cents"],
            url="https://banco.test/pse",
        )
        return 201, {}, json.dumps({"data": txn})

    mocked.add_callback("POST", f"{fakes.API}/transactions", callback=create)
    mocked.add_callback(
        "GET",
        f"{fakes.API}/transactions/3-3-3",
        callback=lambda r: (
            200,
            {},
            json.dumps(
                {
                    "data": fakes.transaction(
                        txn_id="3-3-3",
                        reference=created["reference"],
                        amount=created["amount_in_cents"],
                        url="https://banco.test/pse",
                    )
                }
            ),
        ),
    )
    return created


def pay_step(client, url, **over):
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)[:600]
    html = page.get_data(as_text=True)
    data = {
        "csrf_token": csrf_from(html),
        "factura": re.findall(r'name="factura" type="hidden" value="([^"]+)"', html),
        "tipo_cliente": "0",
        "banco": "1007",
        "tipo_documento": "CC",
        "documento": "1099888777",
        "nombre": "Usuario Demo",
        "email": "u@correo.test",
        "telefono": "3001234567",
        "acepta_terminos": "y",
        "acepta_datos": "y",
        **over,
    }
    abono = re.search(r'name="abono" type="hidden" value="([^"]+)"', html)
    if abono:
        data["abono"] = abono.group(1)
    return html, client.post("/insesp/pse/pagar", data=data)


def test_one_pse_transaction_pays_the_selection(client, app, insesp, make_bill, gateway):
    older, newer = two_bills(make_bill)
    with app.test_request_context():
        tokens = [bill_token(insesp, b) for b in (older, newer)]
    url = "/insesp/pse/pagar?" + "&".join(f"factura={t}" for t in tokens)
    html, response = pay_step(client, url)
    assert "$ 38.000" in html and older.bill_number in html and newer.bill_number in html
    assert response.status_code == 303 and gateway["amount_in_cents"] == 3_800_000
    attempt = db.session.scalars(select(PaymentAttempt)).one()
    assert len(attempt.bills) == 2


def test_an_abono_through_the_bank_step(client, app, insesp, make_bill, gateway):
    bill = make_bill(amount_cents=1_800_000)
    with app.test_request_context():
        url = f"/insesp/pse/pagar?factura={bill_token(insesp, bill)}&abono=10.000"
    html, response = pay_step(client, url)
    assert "Valor a abonar" in html and "$ 10.000" in html
    assert response.status_code == 303 and gateway["amount_in_cents"] == 1_000_000
    link = db.session.scalars(select(AttemptBill)).one()
    assert (link.amount_cents, link.bill_amount_cents) == (1_000_000, 1_800_000)


@pytest.mark.parametrize("typed", ["diez mil", "1.00.0", "-5000", "0"])
def test_an_unreadable_abono_gets_a_spanish_message(client, app, insesp, make_bill, typed):
    bill = make_bill(amount_cents=1_800_000)
    with app.test_request_context():
        url = f"/insesp/pse/pagar?factura={bill_token(insesp, bill)}&abono={typed}"
    response = client.get(url)
    assert response.status_code == 409
    assert "Escriba el valor a abonar en pesos" in response.get_data(as_text=True)


def test_a_partly_paid_bill_shows_its_balance(client, csrf, insesp, make_bill):
    bill = make_bill(client="0021053", amount_cents=1_800_000)
    approve(open_for(insesp, [bill], {bill.id: 1_000_000}), "4-4-1")
    html = lookup_html(client, csrf, "21053")
    assert "Abonada" in html and "Saldo pendiente" in html and "$ 8.000" in html
    assert "Pagar $ 8.000" in html


# --- races -------------------------------------------------------------------------------------


def test_overlapping_selections_at_once_hold_no_bill_twice(app, insesp, make_bill):
    a = make_bill(client="0021090", due_on=TODAY + dt.timedelta(days=1))
    b = make_bill(client="0021090", due_on=TODAY + dt.timedelta(days=2))
    c = make_bill(client="0021090", due_on=TODAY + dt.timedelta(days=3))
    results = []

    def payer(bills):
        ids = [x.id for x in bills]  # read here: the threads must not touch this session

        def run():
            tenant = app.extensions["gaspay.tenants"]["insesp"]
            fresh = [db.session.get(Bill, i) for i in ids]
            try:
                results.append(("opened", open_for(tenant, fresh).id))
            except services.BillBusy as busy:
                results.append(("busy", tuple(busy.bill_ids)))

        return run

    first_payer, second_payer = payer([a, b]), payer([a, b, c])
    errors = _in_threads(app, first_payer, second_payer)
    assert errors == []
    outcomes = sorted(r[0] for r in results)
    assert outcomes == ["busy", "opened"], results
    busy = next(r for r in results if r[0] == "busy")
    assert set(busy[1]) <= {a.id, b.id} and busy[1]  # told which bills are taken
    holds = db.session.scalars(select(BillHold)).all()
    assert len({h.bill_id for h in holds}) == len(holds)
    assert db.session.scalar(select(func.count()).select_from(PaymentAttempt)) == 1


def test_two_abonos_approved_at_once_keep_the_balance_right(app, insesp, make_bill):
    bill = make_bill(amount_cents=1_800_000)
    first = open_for(insesp, [bill], {bill.id: 1_000_000})
    services.apply_answer(first, answer(first, "DECLINED", txn_id="2-2-1"), "event")
    second = open_for(insesp, [bill], {bill.id: 1_000_000})
    services.apply_answer(second, answer(second, "PENDING", txn_id="2-2-2"), "payer")

    # Built here: the threads must not touch this session's objects.
    answers = {
        second.id: answer(second, "APPROVED", txn_id="2-2-2"),
        first.id: answer(first, "APPROVED", txn_id="2-2-3"),
    }

    def approving(attempt_id):
        def run():
            attempt = db.session.get(PaymentAttempt, attempt_id)
            services.apply_answer(attempt, answers[attempt_id], "event")

        return run

    approve_second, approve_retry_of_first = approving(second.id), approving(first.id)

    assert _in_threads(app, approve_second, approve_retry_of_first) == []
    approved = db.session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.status == T.APPROVED)
    ).all()
    assert len(approved) == 2
    flagged = [a for a in approved if "overpaid" in kinds(a)]
    assert len(flagged) == 1  # exactly the one that came second
    assert services.balances([bill])[bill.id] == 0 and state(bill) == PAID


# --- found attacking the feature ---------------------------------------------------------------


def test_an_abono_on_the_older_bill_does_not_free_the_newer_one(insesp, make_bill):
    older, newer = two_bills(make_bill)
    open_for(insesp, [older], {older.id: 500_000})  # live, and it leaves 13.000 owing
    with pytest.raises(services.SelectionRefused) as refused:
        open_for(insesp, [newer])
    assert older.bill_number in refused.value.message


def test_the_lookup_ticks_at_most_what_one_payment_takes(client, csrf, make_bill):
    for i in range(14):
        make_bill(client="0021077", amount_cents=100_000, due_on=TODAY + dt.timedelta(days=i + 1))
    html = lookup_html(client, csrf, "21077")
    assert html.count(" checked") == services_max() and "Pagar $ 12.000" in html


def services_max():
    from gaspay.billing.services import MAX_SELECTED

    return MAX_SELECTED
