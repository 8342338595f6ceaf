"""PlacetoPay race suite (PostgreSQL, two gunicorn servers sharing one database), over HTTP.

1. The payer's return, PlacetoPay's signed notification and the job (two ``flask payments
   reconcile`` processes) on the same attempts at the same moment, spread over both servers:
   each attempt moves into its final state exactly once; no bill paid twice.
2. A hundred copies of one notification (SHA-256 and legacy SHA-1 signatures), posted at once to
   both servers: one transition, all answered 200, one event row.
3. Twenty payers of one Gasnova bill press "pay" at once on both servers: one session.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from gaspay.payments import transitions as T
from gaspay.payments.models import GatewayEvent
from tests.integrity.figures import record_race
from tests.integrity.portal import (
    World,
    fetch,
    p2p_notification,
    parse_job_output,
    post_event,
    post_events_parallel,
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

ATTEMPTS = 8
COPIES = 100
PAYERS = 20
OURS = {"APPROVED": T.APPROVED, "REJECTED": T.DECLINED}


def final_moves(world: World, attempt_id: int) -> list:
    return [m for m in world.transitions(attempt_id) if m.to_status in T.FINAL]


def test_return_notification_and_job_on_the_same_attempt_at_once(p2p_world: World):
    world = p2p_world
    bills = [world.bill() for _ in range(ATTEMPTS)]
    payers = [world.payer(i) for i in range(ATTEMPTS)]
    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        request_ids = list(
            pool.map(
                lambda pb: world.pay_to_bank(pb[0], pb[0].lookup(pb[1].client_number)),
                zip(payers, bills, strict=True),
            )
        )
    verdicts = {r: ("APPROVED", "REJECTED")[i % 2] for i, r in enumerate(request_ids)}
    for request_id, verdict in verdicts.items():
        world.fake.decide(request_id, verdict)
    references = {
        r: world.only_attempt(b).reference for r, b in zip(request_ids, bills, strict=True)
    }
    job_asking = threading.Event()

    def slow_answer(_request_id: str) -> None:
        # The first query is a job's: the payers and PlacetoPay's notifier go now, and every
        # query answers a little late, at random, so that the three paths overlap for certain.
        job_asking.set()
        threading.Event().wait(random.uniform(0.02, 0.15))

    world.fake.on_status = slow_answer
    world.make_due()

    start = threading.Barrier(ATTEMPTS * 5)
    returns, notices = [], []
    lock = threading.Lock()

    def go() -> None:
        assert job_asking.wait(timeout=60), "the job never asked PlacetoPay"
        start.wait(timeout=30)

    def come_back(request_id: str, server: int) -> None:
        go()
        page = world.payer(server).result(references[request_id])
        with lock:
            returns.append(page.status_code)

    def notify(request_id: str, server: int, algorithm: str) -> None:
        body, headers = p2p_notification(world.fake.notification(request_id, algorithm))
        go()
        answer = post_event(world.server(server), "gasnova", body, headers, "placetopay")
        with lock:
            notices.append(answer)

    world.start_workers()  # they apply the stored notifications while the jobs ask
    jobs = [world.job_process(GATEWAY_TIMEOUT_SECONDS=30) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=ATTEMPTS * 5) as pool:
        futures = []
        for request_id in request_ids:
            futures += [pool.submit(come_back, request_id, s) for s in (0, 1)]
            futures += [
                pool.submit(notify, request_id, s, a)
                for s, a in ((0, "sha256"), (1, "sha256"), (1, "sha1"))
            ]
        for future in futures:
            future.result(timeout=120)
        outputs = [j.communicate(timeout=120) for j in jobs]
    world.fake.on_status = None
    for job, (_, err) in zip(jobs, outputs, strict=True):
        assert job.returncode == 0, err[-3000:]
    reports = [parse_job_output(out) for out, _ in outputs]

    statuses = Counter(status for status, _ in notices)
    outcomes = Counter(outcome for _, outcome in notices)
    assert statuses == {200: len(notices)}, statuses
    stored = world.events_applied()
    assert outcomes == {"queued": stored, "duplicate": len(notices) - stored}, outcomes
    assert stored <= ATTEMPTS, stored  # one per session: the algorithm is not in the key
    assert Counter(returns) == {200: len(returns)}, Counter(returns)
    by_source: Counter[str] = Counter()
    per_attempt: Counter[int] = Counter()
    for bill, request_id in zip(bills, request_ids, strict=True):
        attempt = world.only_attempt(bill)
        moves = final_moves(world, attempt.id)
        per_attempt[len(moves)] += 1
        assert len(moves) == 1, (attempt.reference, [(m.to_status, m.source) for m in moves])
        assert attempt.status == OURS[verdicts[request_id]]
        by_source[moves[0].source] += 1
    assert sum(r["transitions"] for r in reports) == by_source["job"], (reports, by_source)
    assert sum(r["checked"] for r in reports) >= 1, reports  # the job took part
    assert sum(r["checked"] for r in reports) <= ATTEMPTS  # never one attempt twice
    ledger = world.audit()
    record_race(
        "placetopay_return_notification_job",
        {
            "attempts": ATTEMPTS,
            "servers": len(world.servers),
            "returns": len(returns),
            "notifications_posted": len(notices),
            "notifications_answered_200": statuses[200],
            "notification_outcomes": dict(outcomes),
            "job_reports": reports,
            "final_transitions_by_source": dict(by_source),
            "final_transitions_per_attempt": dict(per_attempt),
            "lost": ledger.lost,
            "doubled": ledger.doubled,
        },
    )
    ledger.assert_clean()


def test_hundred_copies_of_one_notification_make_one_transition(p2p_world: World):
    world = p2p_world
    bill = world.bill()
    payer = world.payer(0)
    request_id = world.pay_to_bank(payer, payer.lookup(bill.client_number))
    attempt = world.only_attempt(bill)
    world.fake.decide(request_id, "APPROVED")
    copies = [
        p2p_notification(world.fake.notification(request_id, ("sha256", "sha1")[i % 2]))
        for i in range(COPIES)
    ]

    world.start_workers()
    answers = post_events_parallel(world.servers, "gasnova", copies, provider="placetopay")

    statuses = Counter(status for status, _ in answers)
    outcomes = Counter(outcome for _, outcome in answers)
    assert statuses == {200: COPIES}, statuses
    assert outcomes == {"queued": 1, "duplicate": COPIES - 1}, outcomes
    assert world.events_applied() == 1
    moves = final_moves(world, attempt.id)
    assert [(m.from_status, m.to_status, m.source) for m in moves] == [
        (T.PENDING, T.APPROVED, "event")
    ]
    events = fetch(select(GatewayEvent))
    assert len(events) == 1, [(e.gateway_txn_id, e.outcome) for e in events]
    assert events[0].outcome == "applied" and world.fake.calls["query"] >= 1
    ledger = world.audit()
    record_race(
        "placetopay_duplicated_notification",
        {
            "copies": COPIES,
            "servers": len(world.servers),
            "answered_200": statuses[200],
            "transitions": len(moves),
            "outcomes": dict(outcomes),
            "events_recorded": len(events),
            "queries": world.fake.calls["query"],
            "lost": ledger.lost,
            "doubled": ledger.doubled,
        },
    )
    ledger.assert_clean()


def test_twenty_payers_of_one_bill_make_one_session(p2p_world: World):
    world = p2p_world
    bill = world.bill()
    payers = [world.payer(i) for i in range(PAYERS)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        steps = list(pool.map(lambda p: p.bank_step(p.lookup(bill.client_number)), payers))
    assert [s.status_code for s in steps] == [200] * PAYERS
    start = threading.Barrier(PAYERS)

    def press_pay(i: int):
        start.wait(timeout=30)
        return payers[i].pay(steps[i])

    with ThreadPoolExecutor(max_workers=PAYERS) as pool:
        answers = list(pool.map(press_pay, range(PAYERS)))
    to_gateway = [r for r in answers if r.status_code == 303]
    assert len(to_gateway) == 1, Counter(r.status_code for r in answers)
    attempt = world.only_attempt(bill)
    for response in answers:
        if response.status_code != 303:
            spanish_page(response, 409, "PENDIENTE", attempt.reference)
    (session,) = world.fake.transactions()
    assert session.reference == attempt.reference and world.fake.calls["create"] == 1
    world.fake.decide(session.id, "APPROVED")
    world.settle()
    ledger = world.audit()
    record_race(
        "placetopay_twenty_payers_one_bill",
        {
            "payers": PAYERS,
            "servers": len(world.servers),
            "sent_to_placetopay": len(to_gateway),
            "sessions": ledger.gateway_transactions,
            "lost": ledger.lost,
            "doubled": ledger.doubled,
        },
    )
    ledger.assert_clean()
