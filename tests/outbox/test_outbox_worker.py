"""The worker: claims shared safely by several workers, a lease that outlives a killed worker
(a real subprocess, SIGKILL mid-batch), SIGTERM finishing the message in hand, `--once`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.outbox import DELIVERED, PENDING, OutboxMessage, Worker, queue
from gaspay.outbox import webhooks as W
from gaspay.timeutil import utcnow
from tests.outbox.conftest import ROOT, SECRET
from tests.outbox.figures import record_figures


def make_messages(tenant, count: int) -> list[int]:
    with write_unit():
        for i in range(count):
            W.enqueue_event(tenant, "payment.approved", {"reference": f"GPW{i:05d}"})
    return [m.id for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def rows() -> list[OutboxMessage]:
    db.session.commit()
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
    )


def uids() -> set[str]:
    return {m.uid for m in rows()}


def test_concurrent_claims_never_overlap(oapp, otenant):
    make_messages(otenant, 40)
    taken: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def claimer(name: str):
        with oapp.app_context():
            start.wait(timeout=30)
            mine = []
            for _ in range(20):
                mine += queue.claim(name, limit=3)
            taken[name] = mine
            db.session.remove()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    everything = [i for ids in taken.values() for i in ids]
    assert len(everything) == len(set(everything)) == 40


def test_two_workers_at_once_send_no_message_twice(oapp, otenant, receiver):
    make_messages(otenant, 20)
    receiver.delay = 0.03
    start = threading.Barrier(2)
    done = Counter()

    def run(name: str):
        worker = Worker(oapp, name=name, batch=3)
        with oapp.app_context():
            start.wait(timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                report = worker.run_once(reconcile=False)
                done[name] += report.delivered
                if report.claimed == 0:
                    break
            db.session.remove()

    threads = [threading.Thread(target=run, args=(f"worker-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    ids = receiver.ids()
    assert sorted(ids) == sorted(uids())  # all 20, none twice
    assert {m.status for m in rows()} == {DELIVERED}
    assert sum(done.values()) == 20
    record_figures(
        "two_workers_at_once",
        messages=20,
        received=len(ids),
        doubled=len(ids) - len(set(ids)),
        lost=20 - len(set(ids)),
        per_worker=dict(done),
    )


def test_a_claimed_message_waits_for_its_lease(oapp, otenant):
    [message_id] = make_messages(otenant, 1)
    assert queue.claim("dead-worker", limit=5) == [message_id]
    assert queue.claim("other", limit=5) == []  # held
    with write_unit():
        db.session.execute(
            OutboxMessage.__table__.update()
            .where(OutboxMessage.id == message_id)
            .values(lease_until=utcnow())
        )
    assert queue.claim("other", limit=5) == [message_id]  # the lease ran out
    assert queue.start(message_id, "dead-worker") is None  # the old holder lost it
    assert queue.start(message_id, "other").number == 1


# --- real worker processes --------------------------------------------------------------------


def worker_env(database_url: str, receiver, tmp_path, **extra) -> dict:
    env = {
        **os.environ,
        "GASPAY_DATABASE_URL": database_url,
        "GASPAY_SECRET_KEY": "test-secret-key-" + "x" * 32,
        "GASPAY_SANDBOX_BASE_URL": "http://sandbox.test",
        "GASPAY_MAIL_DIR": str(tmp_path / "mail"),
        "GASPAY_INSESP_WEBHOOK_URL": receiver.url,
        "GASPAY_INSESP_WEBHOOK_SECRET": SECRET,
        "GASPAY_WORKER_POLL_SECONDS": "0.1",
        "GASPAY_WORKER_RECONCILE_SECONDS": "0",
        "GASPAY_OUTBOX_BATCH": "10",
        "GASPAY_OUTBOX_RETRY_JITTER": "0",
        "GASPAY_WEBHOOK_TIMEOUT_SECONDS": "5",
    }
    env.pop("GASPAY_TEST_DATABASE_URL", None)
    env.update({f"GASPAY_{k}": str(v) for k, v in extra.items()})
    return env


def spawn(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "gaspay", "worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_worker_killed_mid_batch_leaves_its_messages_to_the_next(
    oapp, otenant, receiver, database_url, tmp_path, processes
):
    make_messages(otenant, 6)
    receiver.delay = 0.4
    victim = spawn(worker_env(database_url, receiver, tmp_path, OUTBOX_LEASE_SECONDS=5))
    processes.append(victim)
    assert receiver.wait_for(2, timeout=30), victim.stdout.read() if victim.poll() else ""
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    received_before = len(receiver.ids())
    held = [m for m in rows() if m.status == PENDING]
    assert held and all(m.lease_until is not None for m in held)  # still claimed by the dead

    survivor = Worker(oapp, name="survivor")
    assert survivor.run_once(reconcile=False).claimed == 0  # not before the lease runs out
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and {m.status for m in rows()} != {DELIVERED}:
        survivor.run_once(reconcile=False)
        time.sleep(0.1)
    assert {m.status for m in rows()} == {DELIVERED}
    ids = receiver.ids()
    assert set(ids) == uids()  # nothing lost
    doubled = len(ids) - len(set(ids))
    assert doubled <= 1  # at most the one in hand when it died, sent again under its id
    record_figures(
        "worker_sigkill_mid_batch",
        messages=6,
        received_before_kill=received_before,
        held_by_dead_worker=len(held),
        delivered_by_next_worker=len(held),
        lost=len(uids() - set(ids)),
        doubled=doubled,
    )


def test_sigterm_finishes_the_message_in_hand_and_gives_back_the_rest(
    oapp, otenant, receiver, database_url, tmp_path, processes
):
    make_messages(otenant, 4)
    receiver.delay = 1.0
    proc = spawn(worker_env(database_url, receiver, tmp_path, OUTBOX_LEASE_SECONDS=60))
    processes.append(proc)
    assert receiver.wait_for(1, timeout=30)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "stopping after the message in hand" in output and "stopped" in output
    states = rows()
    assert [m.status for m in states].count(DELIVERED) == 1  # the one in hand, recorded
    rest = [m for m in states if m.status == PENDING]
    assert len(rest) == 3 and all(m.lease_until is None for m in rest)  # given back
    assert len(queue.claim("next", limit=10)) == 3  # at once, no 60 s lease to wait for


def test_worker_once_delivers_what_is_due(oapp, otenant, receiver, database_url, tmp_path):
    make_messages(otenant, 2)
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "gaspay", "worker", "--once", "--no-reconcile"],
        cwd=ROOT,
        env=worker_env(database_url, receiver, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "delivered=2" in done.stdout
    assert {m.status for m in rows()} == {DELIVERED}
