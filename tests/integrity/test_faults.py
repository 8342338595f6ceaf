"""Fault suite: the gateway fails at every step of both flows, in every way; nothing is lost.

For each step of the PSE flow (merchant tokens, bank list, creation, the bank-URL poll, the
status query on the payer's return, the job's status query) and of the Web Checkout flow (the
payer's return, the job's search by reference) the fake gateway times out, answers 500, answers
a 200 that is not JSON, or drops the connection. Each case proves, on the real servers:

1. the payer reads a clear Spanish message (no trace, no internals);
2. while the gateway is unreachable nothing is marked failed, declined or paid on a guess;
3. once the fault clears, the job brings every attempt to the gateway's own final word;
4. the books balance: no payment lost, none doubled (``World.audit``).

The figures of every case go to test-artifacts/integrity.json.
"""

from __future__ import annotations

import time

import pytest

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptBill, PaymentAttempt
from tests.integrity.fake_wompi import FAULTS
from tests.integrity.figures import record_fault, record_promise
from tests.integrity.portal import RESULT_WORDS, World, location_path, spanish_page
from tests.integrity.rig import PG_URL

UNAVAILABLE = "No fue posible comunicarnos con la pasarela de pagos. No se realizó ningún cobro"
BANKS_UNAVAILABLE = "No se pudo obtener la lista de Entidades Financieras"
DO_NOT_PAY_AGAIN = "No intente pagar de nuevo"
# What the bank finally says in each case (so approvals, declines and errors are all covered).
VERDICT = {"timeout": "APPROVED", "500": "DECLINED", "garbage": "APPROVED", "close": "ERROR"}


def follow_to_result(world: World, response, server: int) -> str:
    """The payer was sent to our result page (not to the bank): they open it on `server`."""
    assert response.status_code == 303, response.text[:800]
    path = location_path(response)
    assert "/pagos/" in path, path
    payer = world.payer(server)
    return spanish_page(payer.get(path), 200, DO_NOT_PAY_AGAIN)


# --------------------------------------------------------------------------- PSE steps


def merchant_tokens(world: World, fault: str, verdict: str) -> int:
    bill = world.bill()
    payer = world.payer(0)
    token = payer.lookup(bill.client_number)
    world.fake.set_fault("merchant", fault)
    step = payer.bank_step(token)
    spanish_page(step, 200, "Pago PSE")  # the form still shows; only the terms links are missing
    refused = payer.pay(step)
    spanish_page(refused, 422, UNAVAILABLE)
    assert world.attempts() == [] and world.fake.calls["create"] == 0
    world.fake.clear_faults()
    txn_id = world.pay_to_bank(world.payer(1), token)
    world.fake.decide(txn_id, verdict)
    return refused.status_code


def bank_list(world: World, fault: str, verdict: str) -> int:
    bill = world.bill()
    payer = world.payer(0)
    token = payer.lookup(bill.client_number)
    world.fake.set_fault("banks", fault)
    step = payer.bank_step(token)
    spanish_page(step, 503, BANKS_UNAVAILABLE)
    refused = payer.pay(step)
    spanish_page(refused, 422, BANKS_UNAVAILABLE)
    assert world.attempts() == [] and world.fake.calls["create"] == 0
    world.fake.clear_faults()
    txn_id = world.pay_to_bank(world.payer(1), token)
    world.fake.decide(txn_id, verdict)
    return step.status_code


def creation(world: World, fault: str, verdict: str) -> int:
    """The worst case: the gateway may have created (and later charged) a transaction we never
    heard about. For a 500 it did not; for the others it did."""
    stored = fault != "500"
    bill = world.bill()
    payer = world.payer(0)
    token = payer.lookup(bill.client_number)
    world.fake.set_fault("create", fault, store=stored)
    response = payer.pay(payer.bank_step(token))
    page = follow_to_result(world, response, 1)
    attempt = world.only_attempt(bill)
    assert attempt.status in T.LIVE
    world.assert_nothing_guessed()
    if stored:
        # The payer's return asked the gateway by reference and found the transaction.
        (txn,) = world.fake.transactions()
        assert RESULT_WORDS[T.PENDING] in page and attempt.gateway_txn_id == txn.id
        world.fake.decide(txn.id, verdict)
    else:
        assert world.fake.transactions() == [] and RESULT_WORDS[T.CREATED] in page
        # Nothing reached the gateway: once the attempt expires, the payer pays again.
        world.settle()
        assert world.only_attempt(bill).status == T.EXPIRED
        txn_id = world.pay_to_bank(world.payer(1), token)
        world.fake.decide(txn_id, "APPROVED")
    return response.status_code


def bank_url_poll(world: World, fault: str, verdict: str) -> int:
    bill = world.bill()
    payer = world.payer(0)
    token = payer.lookup(bill.client_number)
    world.fake.set_fault("status", fault)
    response = payer.pay(payer.bank_step(token))
    page = follow_to_result(world, response, 1)  # no bank URL: our page, "pending"
    assert RESULT_WORDS[T.PENDING] in page
    attempt = world.only_attempt(bill)
    assert attempt.status == T.PENDING and attempt.redirect_url is None
    world.assert_nothing_guessed()
    world.fake.decide(attempt.gateway_txn_id, verdict)
    return response.status_code


def payer_return(world: World, fault: str, verdict: str) -> int:
    bill = world.bill()
    payer = world.payer(0)
    token = payer.lookup(bill.client_number)
    txn_id = world.pay_to_bank(payer, token)
    world.fake.decide(txn_id, verdict)  # the bank has answered; the payer comes back
    world.fake.set_fault("status", fault)
    reference = world.only_attempt(bill).reference
    back = world.payer(1).result(reference, txn_id)
    spanish_page(back, 200, RESULT_WORDS[T.PENDING], DO_NOT_PAY_AGAIN)
    world.assert_nothing_guessed()
    return back.status_code


def job_status_query(world: World, fault: str, verdict: str) -> int:
    bill = world.bill()
    payer = world.payer(0)
    token = payer.lookup(bill.client_number)
    txn_id = world.pay_to_bank(payer, token)
    world.fake.decide(txn_id, verdict)  # the payer never comes back
    world.fake.set_fault("status", fault)
    world.make_due()
    report = world.job()
    assert (report["checked"], report["unavailable"], report["transitions"]) == (1, 1, 0)
    world.assert_nothing_guessed()
    # Meanwhile the payer looks the bill up again: the pending rule, not a second payment.
    reference = world.only_attempt(bill).reference
    again = world.payer(1)
    spanish_page(again.lookup_page(bill.client_number), 200, "PENDIENTE", reference)
    busy = again.bank_step(token)
    spanish_page(busy, 409, "PENDIENTE", reference)
    return busy.status_code


# --------------------------------------------------------------------------- Web Checkout


def checkout_job_search(world: World, fault: str, verdict: str) -> int:
    """The checkout payer paid on Wompi's page and never came back: the job must search."""
    bill = world.bill("interservicios")
    attempt = world.checkout_attempt(bill)
    world.fake.checkout_payment("interservicios", attempt.reference, bill.amount_cents, verdict)
    world.fake.set_fault("find", fault)
    world.make_due()
    report = world.job()
    assert (report["checked"], report["unavailable"], report["transitions"]) == (1, 1, 0)
    world.assert_nothing_guessed()
    page = world.payer(1, "interservicios").result(attempt.reference)
    spanish_page(page, 200, RESULT_WORDS[T.CREATED], DO_NOT_PAY_AGAIN)
    world.assert_nothing_guessed()
    return page.status_code


def checkout_return(world: World, fault: str, verdict: str) -> int:
    bill = world.bill("interservicios")
    attempt = world.checkout_attempt(bill)
    txn = world.fake.checkout_payment(
        "interservicios", attempt.reference, bill.amount_cents, verdict
    )
    world.fake.set_fault("status", fault)
    back = world.payer(0, "interservicios").result(attempt.reference, txn.id)
    spanish_page(back, 200, RESULT_WORDS[T.CREATED], DO_NOT_PAY_AGAIN)
    world.assert_nothing_guessed()
    return back.status_code


FLOWS = {
    "merchant": merchant_tokens,
    "banks": bank_list,
    "create": creation,
    "poll": bank_url_poll,
    "return": payer_return,
    "job": job_status_query,
    "checkout_job": checkout_job_search,
    "checkout_return": checkout_return,
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", list(FLOWS))
def test_gateway_fault_loses_and_doubles_nothing(world: World, step: str, fault: str):
    started = time.monotonic()
    world.watch_transactions()
    payer_status = FLOWS[step](world, fault, VERDICT[fault])
    assert world.fake.faulted, "the fault never fired: the case tested nothing"

    world.settle()
    ledger = world.audit()
    # Every payer now reads the final word on the result page, from either server.
    for i, attempt in enumerate(world.attempts()):
        tenant = "interservicios" if attempt.gateway == "wompi" else "insesp"
        page = world.payer(i, tenant).result(attempt.reference)
        spanish_page(page, 200, RESULT_WORDS[attempt.status])
    figures = ledger.figures()
    figures.update(
        payer_http_status=payer_status,
        gateway_faults_fired=dict(world.fake.faulted),
        seconds=round(time.monotonic() - started, 2),
    )
    if seen := world.transactions_seen():
        figures["db_transactions"] = seen
    record_fault(f"{step}/{fault}", figures)
    ledger.assert_clean()
    assert ledger.attempts >= 1 and ledger.resolved == ledger.attempts


@pytest.mark.skipif(not PG_URL, reason="reads pg_stat_activity: PostgreSQL only")
def test_no_database_transaction_is_held_across_a_gateway_call(world: World):
    """Reliability promise 2, watched from the database's side while one payment goes through
    every gateway call of both flows: the payer's page, the pay button, the bank-URL poll, the
    return, the job's status query and search, the checkout return."""
    assert world.watch_transactions()
    bill = world.bill()
    payer = world.payer(0)
    token = payer.lookup(bill.client_number)
    txn_id = world.pay_to_bank(payer, token)
    world.fake.decide(txn_id, "APPROVED")
    reference = world.only_attempt(bill).reference
    spanish_page(world.payer(1).result(reference, txn_id), 200, RESULT_WORDS[T.APPROVED])
    second = world.bill()
    world.pay_to_bank(payer, payer.lookup(second.client_number))
    checkout = world.checkout_attempt(world.bill("interservicios"))
    world.fake.checkout_payment(
        "interservicios", checkout.reference, checkout.amount_cents, "APPROVED"
    )
    for txn in world.fake.transactions():
        if txn.status == "PENDING":
            world.fake.decide(txn.id, "DECLINED")
    world.make_due()
    assert world.job()["transitions"] == 2
    seen = world.transactions_seen()
    record_promise(
        "no_transaction_across_gateway_calls",
        {**seen, "open_transactions": sorted(set(world.portal.probe.queries))},
    )
    assert seen["inside_db_transaction"] == {}, world.portal.probe.queries


def test_the_audit_sees_lost_and_doubled_payments(world: World):
    """The counters above are not vacuous: books that do not balance are caught."""
    orphan = world.bill()
    world.fake.checkout_payment("insesp", "GPNOATTEMPT1", orphan.amount_cents, "APPROVED")
    twice = world.bill()
    late = world.bill()
    with write_unit():
        for bill, status, verdict in (
            (twice, T.APPROVED, "APPROVED"),
            (twice, T.APPROVED, "APPROVED"),
            (late, T.PENDING, "APPROVED"),
        ):
            reference = f"GPAUDIT{bill.id}{status[:2].upper()}{len(world.fake.transactions())}"
            txn = world.fake.checkout_payment("insesp", reference, bill.amount_cents, verdict)
            attempt = PaymentAttempt(
                tenant="insesp",
                reference=reference,
                gateway="pse",
                description="auditoría",
                amount_cents=bill.amount_cents,
                currency="COP",
                status=status,
                gateway_txn_id=txn.id,
            )
            attempt.bills = [AttemptBill(bill_id=bill.id, amount_cents=bill.amount_cents)]
            db.session.add(attempt)
    ledger = world.audit()
    assert (ledger.lost, ledger.doubled, ledger.unresolved) == (2, 1, 1), ledger.problems
    with pytest.raises(AssertionError):
        ledger.assert_clean()
