"""Race suite (PostgreSQL, two gunicorn servers sharing one database), driven over HTTP.

1. Fifty payers press "pay" for one bill at once, split across both servers: exactly one live
   attempt and one gateway transaction; every other payer reads the pending message.
2. A hundred copies of one authentic event, posted at once to both servers: one transition, all
   answered 200.
3. The reconciliation job run twice at once (two ``flask payments reconcile`` processes) while
   the gateway's events for the same attempts arrive: each attempt transitions once.
4. Events out of order (approved, then pending, then declined): the attempt stays approved.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait

import pytest
from sqlalchemy import select

from gaspay.payments import transitions as T
from gaspay.payments.models import GatewayEvent
from tests.integrity.figures import record_race
from tests.integrity.portal import (
    World,
    fetch,
    parse_job_output,
    post_event,
    post_events_parallel,
    signed_event,
    spanish_page,
)
from tests.integrity.rig import PG_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_URL,
        reason="race suite needs PostgreSQL and two app servers: set GASPAY_TEST_DATABASE_URL",
    ),
]

PAYERS = 50
COPIES = 100
JOB_ATTEMPTS = 12
VERDICTS = ("APPROVED", "DECLINED", "APPROVED", "ERROR")


def final_moves(world: World, attempt_id: int) -> list:
    return [m for m in world.transitions(attempt_id) if m.to_status in T.FINAL]


def test_fifty_payers_of_one_bill_make_one_live_attempt(world: World):
    bill = world.bill()
    payers = [world.payer(i) for i in range(PAYERS)]  # alternate servers
    # Everyone opens the bank step before anyone pays (the first fills the shared bank list).
    steps = [payers[0].bank_step(payers[0].lookup(bill.client_number))]
    with ThreadPoolExecutor(max_workers=16) as pool:
        steps += pool.map(lambda p: p.bank_step(p.lookup(bill.client_number)), payers[1:])
    assert [s.status_code for s in steps] == [200] * PAYERS

    start = threading.Barrier(PAYERS)

    def press_pay(i: int):
        start.wait(timeout=30)
        return payers[i].pay(steps[i])

    with ThreadPoolExecutor(max_workers=PAYERS) as pool:
        answers = list(pool.map(press_pay, range(PAYERS)))

    to_bank = [r for r in answers if r.status_code == 303]
    others = [r for r in answers if r.status_code != 303]
    assert len(to_bank) == 1, Counter(r.status_code for r in answers)
    assert to_bank[0].headers["Location"].startswith(world.fake.url + "/banco/")
    attempt = world.only_attempt(bill)
    for response in others:
        spanish_page(response, 409, "PENDIENTE", attempt.reference)
    holds = world.holds()
    assert [(h.bill_id, h.attempt_id) for h in holds] == [(bill.id, attempt.id)]
    (txn,) = world.fake.transactions()
    assert world.fake.calls["create"] == 1 and txn.reference == attempt.reference

    world.fake.decide(txn.id, "APPROVED")
    world.settle()
    ledger = world.audit()
    record_race(
        "fifty_payers_one_bill",
        {
            "payers": PAYERS,
            "servers": len(world.servers),
            "sent_to_bank": len(to_bank),
            "shown_pending_rule": sum(r.status_code == 409 for r in others),
            "attempts": ledger.attempts,
            "bill_holds": len(holds),
            "gateway_transactions": ledger.gateway_transactions,
            "lost": ledger.lost,
            "doubled": ledger.doubled,
        },
    )
    ledger.assert_clean()


def test_hundred_copies_of_one_event_make_one_transition(world: World):
    bill = world.bill()
    payer = world.payer(0)
    txn_id = world.pay_to_bank(payer, payer.lookup(bill.client_number))
    attempt = world.only_attempt(bill)
    assert attempt.status == T.PENDING
    world.fake.decide(txn_id, "APPROVED")
    body, headers = signed_event(world.fake.txn_json(txn_id), world.events_secret("insesp"))

    world.start_workers()
    answers = post_events_parallel(world.servers, "insesp", [(body, headers)] * COPIES)

    statuses = Counter(status for status, _ in answers)
    outcomes = Counter(outcome for _, outcome in answers)
    assert statuses == {200: COPIES}, statuses
    # One copy is stored (the inbox's key), every other one is told "duplicate".
    assert outcomes == {"queued": 1, "duplicate": COPIES - 1}, outcomes
    assert world.events_applied() == 1
    moves = final_moves(world, attempt.id)
    assert [(m.from_status, m.to_status, m.source) for m in moves] == [
        (T.PENDING, T.APPROVED, "event")
    ]
    events = fetch(select(GatewayEvent))
    assert len(events) == 1 and events[0].gateway_txn_id == txn_id
    assert events[0].outcome == "applied"
    ledger = world.audit()
    record_race(
        "duplicated_event",
        {
            "copies": COPIES,
            "servers": len(world.servers),
            "answered_200": statuses[200],
            "transitions": len(moves),
            "transitions_per_duplicated_event": len(moves),
            "outcomes": dict(outcomes),
            "events_recorded": len(events),
            "event_row_outcome": events[0].outcome,
            "lost": ledger.lost,
            "doubled": ledger.doubled,
        },
    )
    ledger.assert_clean()


def test_job_twice_at_once_while_events_arrive(world: World):
    bills = [world.bill() for _ in range(JOB_ATTEMPTS)]
    payers = [world.payer(i) for i in range(JOB_ATTEMPTS)]
    with ThreadPoolExecutor(max_workers=JOB_ATTEMPTS) as pool:
        txn_ids = list(
            pool.map(
                lambda pb: world.pay_to_bank(pb[0], pb[0].lookup(pb[1].client_number)),
                zip(payers, bills, strict=True),
            )
        )
    verdicts = {t: VERDICTS[i % len(VERDICTS)] for i, t in enumerate(txn_ids)}
    for txn_id, verdict in verdicts.items():
        world.fake.decide(txn_id, verdict)
    secret = world.events_secret("insesp")
    events = {t: signed_event(world.fake.txn_json(t), secret) for t in txn_ids}

    poster = ThreadPoolExecutor(max_workers=16)
    posted = []
    lock = threading.Lock()

    def post_after(delay: float, base: str, body: bytes, headers: dict):
        time.sleep(delay)
        return post_event(base, "insesp", body, headers)

    def send(txn_id: str, copies: int, delay: float = 0.0) -> None:
        for i in range(copies):
            base = world.servers[(i + random.randrange(2)) % len(world.servers)]
            future = poster.submit(post_after, delay, base, *events[txn_id])
            with lock:
                posted.append(future)

    both_asking = threading.Event()
    asking = {"now": 0, "most": 0}

    def event_while_the_job_asks(txn_id: str) -> None:
        with lock:
            asking["now"] += 1
            asking["most"] = max(asking["most"], asking["now"])
            if asking["now"] >= 2:
                both_asking.set()
        try:
            # The first question waits for the other job's: the two runs overlap for certain.
            both_asking.wait(timeout=20)
            # The job is asking about this attempt right now: the gateway's event for it
            # reaches both servers at the same moment, a little before or after the answer.
            if random.random() < 0.4:
                send(txn_id, 3)
                time.sleep(random.uniform(0, 0.03))
            else:
                send(txn_id, 3, delay=random.uniform(0.01, 0.12))
        finally:
            with lock:
                asking["now"] -= 1

    world.fake.on_status = event_while_the_job_asks
    world.start_workers()  # they apply the stored events while the jobs ask the gateway
    world.make_due()
    # A cron job may wait longer for the gateway than a payer's page does.
    jobs = [world.job_process(GATEWAY_TIMEOUT_SECONDS=30) for _ in range(2)]

    # Independent deliveries too, for the last third, as soon as a job starts asking.
    deadline = time.monotonic() + 60
    while world.fake.calls["status"] == 0 and time.monotonic() < deadline:
        if all(j.poll() is not None for j in jobs):
            break
        time.sleep(0.01)
    for txn_id in reversed(txn_ids[-JOB_ATTEMPTS // 3 :]):
        send(txn_id, 2)

    outputs = [j.communicate(timeout=120) for j in jobs]
    world.fake.on_status = None
    wait(list(posted), timeout=60)
    poster.shutdown(wait=True)
    for job, (_, err) in zip(jobs, outputs, strict=True):
        assert job.returncode == 0, err[-3000:]
    reports = [parse_job_output(out) for out, _ in outputs]
    answers = [f.result() for f in posted]
    statuses = Counter(status for status, _ in answers)
    outcomes = Counter(outcome for _, outcome in answers)
    assert statuses == {200: len(answers)}, statuses
    stored = world.events_applied()
    assert outcomes["queued"] == stored and stored <= JOB_ATTEMPTS, (outcomes, stored)

    by_source: Counter[str] = Counter()
    per_attempt = []
    for bill, txn_id in zip(bills, txn_ids, strict=True):
        attempt = world.only_attempt(bill)
        moves = final_moves(world, attempt.id)
        per_attempt.append(len(moves))
        assert len(moves) == 1, (attempt.reference, [(m.to_status, m.source) for m in moves])
        assert (
            attempt.status
            == {"APPROVED": T.APPROVED, "DECLINED": T.DECLINED, "ERROR": T.FAILED}[verdicts[txn_id]]
        )
        by_source[moves[0].source] += 1
    job_moves = sum(r["transitions"] for r in reports)
    assert job_moves == by_source["job"], (reports, by_source)
    assert by_source["job"] + by_source["event"] == JOB_ATTEMPTS
    assert asking["most"] >= 2, "the two job runs never asked the gateway at the same time"
    assert sum(r["checked"] for r in reports) <= JOB_ATTEMPTS  # never one attempt twice

    # The event log's word for each delivery that moved an attempt (see the report: a copy that
    # changed nothing may write the row first, and the row then says so).
    rows = {e.gateway_txn_id: e.outcome for e in fetch(select(GatewayEvent))}
    event_moved = [
        t
        for b, t in zip(bills, txn_ids, strict=True)
        if final_moves(world, world.only_attempt(b).id)[0].source == "event"
    ]
    misrecorded = sum(rows.get(t) != "applied" for t in event_moved)
    ledger = world.audit()
    record_race(
        "job_twice_with_events",
        {
            "attempts": JOB_ATTEMPTS,
            "job_processes": len(jobs),
            "job_reports": reports,
            "job_questions_in_flight_at_once": asking["most"],
            "events_posted": len(answers),
            "events_answered_200": statuses[200],
            "event_outcomes": dict(outcomes),
            "final_transitions_by_source": dict(by_source),
            "final_transitions_per_attempt": dict(Counter(per_attempt)),
            "event_rows_not_saying_applied": misrecorded,
            "lost": ledger.lost,
            "doubled": ledger.doubled,
            "resolved": ledger.resolved,
        },
    )
    ledger.assert_clean()


def test_events_out_of_order_leave_the_payment_approved(world: World):
    bill = world.bill()
    payer = world.payer(0)
    token = payer.lookup(bill.client_number)
    txn_id = world.pay_to_bank(payer, token)
    world.fake.decide(txn_id, "APPROVED")
    approved = world.fake.txn_json(txn_id)
    secret = world.events_secret("insesp")
    answers = []
    for i, status in enumerate(("APPROVED", "PENDING", "DECLINED")):
        txn = json.loads(json.dumps(approved))
        txn["status"] = status
        body, headers = signed_event(txn, secret, timestamp=int(time.time()) + i)
        answers.append(post_event(world.server(i), "insesp", body, headers))
        world.events_applied()  # each applied before the next one arrives

    assert answers == [(200, "queued")] * 3
    attempt = world.only_attempt(bill)
    assert attempt.status == T.APPROVED and attempt.finalized_at is not None
    trail = [(m.from_status, m.to_status, m.source) for m in world.transitions(attempt.id)]
    assert trail == [(T.CREATED, T.PENDING, "payer"), (T.PENDING, T.APPROVED, "event")]
    assert [b.state for b in world.bills()] == ["paid"]
    # A later payer of the same bill is told it is paid, from either server.
    for i in range(len(world.servers)):
        spanish_page(world.payer(i + 1).bank_step(token), 409, "fue aprobado", attempt.reference)
    world.make_due()
    assert world.job()["due"] == 0  # nothing left for the job: final is final
    ledger = world.audit()
    record_race(
        "out_of_order_events",
        {
            "events": ["APPROVED", "PENDING", "DECLINED"],
            "answered": [status for status, _ in answers],
            "outcomes": [outcome for _, outcome in answers],
            "final_status": attempt.status,
            "transitions": len(trail),
            "lost": ledger.lost,
            "doubled": ledger.doubled,
        },
    )
    ledger.assert_clean()
