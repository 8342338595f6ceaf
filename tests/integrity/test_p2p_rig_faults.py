"""PlacetoPay on the rig: the gateway fails at every step, in every way; nothing is lost.

The same real gunicorn servers as test_faults.py, with Gasnova (PlacetoPay) talking to the fake
PlacetoPay (fake_placetopay.py). For each step (the session's creation; the session query on the
payer's return, by the job, after a signed notification) the fake times out, answers 500, answers
a 200 that is not JSON, or drops the connection. Each case proves, over HTTP:

1. the payer reads a clear Spanish message (no trace, no internals);
2. while PlacetoPay is unreachable nothing is final and nothing is paid;
3. no live attempt is left without a next check (notifications are never retried);
4. once the fault clears, the job brings every attempt to PlacetoPay's word (a session whose
   create answer never arrived expires on both sides: nobody had its processUrl);
5. the books balance: 0 lost, 0 doubled (``World.audit``), figures as Wompi's.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from gaspay.outbox import PENDING, OutboxMessage
from gaspay.payments import inbox
from gaspay.payments import transitions as T
from tests.integrity.fake_placetopay import FAULTS
from tests.integrity.figures import record_fault
from tests.integrity.portal import (
    RESULT_WORDS,
    World,
    fetch,
    location_path,
    p2p_notification,
    post_event,
    spanish_page,
)

DO_NOT_PAY_AGAIN = "No intente pagar de nuevo"
VERDICT = {"timeout": "APPROVED", "500": "REJECTED", "garbage": "APPROVED", "close": "REJECTED"}


def creation(world: World, fault: str, verdict: str) -> int:
    """PlacetoPay may have made a session we never heard of: nobody has its processUrl, so
    nothing can be paid on it; our attempt stays unknown, then expires; the payer pays again."""
    stored = fault != "500"
    bill = world.bill()
    payer = world.payer(0)
    token = payer.lookup(bill.client_number)
    world.fake.set_fault("create", fault, store=stored)
    response = payer.pay(payer.bank_step(token))
    assert response.status_code == 303, response.text[:800]
    path = location_path(response)
    assert "/pagos/" in path and not path.startswith("/session/"), path
    spanish_page(world.payer(1).get(path), 200, DO_NOT_PAY_AGAIN)
    attempt = world.only_attempt(bill)
    assert attempt.status == T.CREATED and attempt.gateway_txn_id is None
    world.assert_nothing_guessed()
    assert len(world.fake.transactions()) == (1 if stored else 0)
    world.fake.expire_unreachable()  # at PlacetoPay, the unseen session expires unpaid
    world.settle()
    assert world.only_attempt(bill).status == T.EXPIRED
    request_id = world.pay_to_bank(world.payer(1), token)
    world.fake.decide(request_id, verdict)
    return response.status_code


def paid_at_placetopay(world: World, verdict: str):
    bill = world.bill()
    payer = world.payer(0)
    request_id = world.pay_to_bank(payer, payer.lookup(bill.client_number))
    attempt = world.only_attempt(bill)
    assert attempt.status == T.PENDING and attempt.gateway_txn_id == request_id
    world.fake.decide(request_id, verdict)
    return bill, attempt, request_id


def payer_return(world: World, fault: str, verdict: str) -> int:
    _, attempt, _ = paid_at_placetopay(world, verdict)
    world.fake.set_fault("query", fault)
    back = world.payer(1).result(attempt.reference)
    spanish_page(back, 200, RESULT_WORDS[T.PENDING], DO_NOT_PAY_AGAIN)
    world.assert_nothing_guessed()
    return back.status_code


def job_query(world: World, fault: str, verdict: str) -> int:
    bill, attempt, _ = paid_at_placetopay(world, verdict)
    world.fake.set_fault("query", fault)
    world.make_due()
    report = world.job()
    assert (report["checked"], report["unavailable"], report["transitions"]) == (1, 1, 0)
    world.assert_nothing_guessed()
    again = world.payer(1)
    spanish_page(again.lookup_page(bill.client_number), 200, "PENDIENTE", attempt.reference)
    return 200


def notification_query(world: World, fault: str, verdict: str) -> int:
    """The signed notification arrives and is stored; the query the worker makes for it fails.
    PlacetoPay never sends it again: the worker asks again later, and the job does too."""
    request_id = paid_at_placetopay(world, verdict)[2]
    world.fake.set_fault("query", fault)
    body, headers = p2p_notification(world.fake.notification(request_id))
    status, outcome = post_event(world.server(1), "gasnova", body, headers, "placetopay")
    assert (status, outcome) == (200, "queued"), (status, outcome)
    world.events_applied()
    stored = fetch(select(OutboxMessage).where(OutboxMessage.kind == inbox.KIND))
    assert [(m.status, m.failures) for m in stored] == [(PENDING, 1)], stored
    world.assert_nothing_guessed()
    return status


FLOWS = {
    "create": creation,
    "return": payer_return,
    "job": job_query,
    "notification": notification_query,
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", list(FLOWS))
def test_placetopay_fault_loses_and_doubles_nothing(p2p_world: World, step: str, fault: str):
    world = p2p_world
    started = time.monotonic()
    world.watch_transactions()
    payer_status = FLOWS[step](world, fault, VERDICT[fault])
    assert world.fake.faulted, "the fault never fired: the case tested nothing"
    assert world.fake.rejected_auth == 0

    world.settle()
    ledger = world.audit()
    for i, attempt in enumerate(world.attempts()):
        page = world.payer(i).result(attempt.reference)
        spanish_page(page, 200, RESULT_WORDS[attempt.status])
    figures = ledger.figures()
    figures.update(
        provider="placetopay",
        payer_http_status=payer_status,
        gateway_faults_fired=dict(world.fake.faulted),
        seconds=round(time.monotonic() - started, 2),
    )
    if seen := world.transactions_seen():
        figures["db_transactions"] = seen
    record_fault(f"placetopay/{step}/{fault}", figures)
    ledger.assert_clean()
    assert ledger.attempts >= 1 and ledger.resolved == ledger.attempts
