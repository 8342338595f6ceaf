"""A poison gateway status among 20 due attempts: the job resolves the other 19 in the same run.

The gateway answers a status nobody documented for one transaction. The job treats it as no
definite answer (the attempt stays live, flagged for review, with a next check) and goes on.
"""

from __future__ import annotations

from sqlalchemy import select

from gaspay.payments import transitions as T
from gaspay.payments.models import PaymentReview
from tests.integrity import figures
from tests.integrity.portal import World, fetch

ATTEMPTS = 20
POISON = 7


def test_a_poison_status_among_20_due_attempts(world: World):
    txn_ids = []
    for i in range(ATTEMPTS):
        bill = world.bill()
        payer = world.payer(i)
        txn_ids.append(world.pay_to_bank(payer, payer.lookup(bill.client_number)))
    for i, txn_id in enumerate(txn_ids):
        if i == POISON:
            with world.fake.lock:
                world.fake.txns[txn_id].status = "CHARGEBACK_SOMETHING"
        else:
            world.fake.decide(txn_id, "APPROVED" if i % 2 else "DECLINED")
    world.make_due()
    report = world.job()
    attempts = {a.gateway_txn_id: a for a in world.attempts()}
    resolved = [t for i, t in enumerate(txn_ids) if i != POISON and attempts[t].is_final]
    poison = attempts[txn_ids[POISON]]
    flagged = fetch(select(PaymentReview).where(PaymentReview.attempt_id == poison.id))
    figures.record_race(
        "poison status among 20 due attempts",
        {"due": ATTEMPTS, "resolved": len(resolved), "poison_flagged": len(flagged)},
    )
    assert report["checked"] == ATTEMPTS and report["transitions"] == ATTEMPTS - 1
    assert len(resolved) == ATTEMPTS - 1
    assert poison.status in T.LIVE and poison.next_check_at is not None
    assert [r.kind for r in flagged] == ["unknown_status"]
    ledger = world.audit()
    # The poison attempt is the one unresolved on purpose (the gateway's word is not a status).
    assert (ledger.lost, ledger.doubled, ledger.wrong, ledger.unresolved) == (0, 0, 0, 1)
    assert ledger.resolved == ATTEMPTS - 1
