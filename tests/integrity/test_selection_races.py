"""Two payers selecting overlapping sets of one client's bills at once, over HTTP (issue 14).

Both open the PSE step for their selection, then press "pay" together, each on its own server
where there are two: one is sent to the bank with every bill of its selection held; the other
is told which bills are taken and nothing is opened for it. No bill is ever held twice. The
concurrent approval of two abonos on one bill is proved in-process on both engines
(`tests/test_several_bills.py::test_two_abonos_approved_at_once_keep_the_balance_right`).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from concurrent.futures import ThreadPoolExecutor

from gaspay.billing.models import Bill
from gaspay.extensions import db
from gaspay.timeutil import today_in_bogota
from tests.integrity.figures import record_race
from tests.integrity.portal import CSRF_RE, World

ROUNDS = 5
TICKED = re.compile(r'name="factura" value="([^"]+)" form="seleccion"')
STEP_TOKENS = re.compile(r'name="factura" type="hidden" value="([^"]+)"')


def client_bills(client: str, count: int) -> list[int]:
    today = today_in_bogota()
    ids = []
    for i in range(count):
        bill = Bill(
            tenant="insesp",
            client_number=client,
            client_display=f"0{client}",
            bill_number=f"SEL-{client}-{i}",
            concept="Factura del Gas",
            holder_first_name="Usuario",
            holder_last_name="Seleccion",
            email="seleccion@correo.test",
            phone="3001234567",
            amount_cents=1_000_000 + i * 100_000,
            vat_cents=0,
            due_on=today + dt.timedelta(days=5 + i),
        )
        db.session.add(bill)
        db.session.flush()
        ids.append(bill.id)
    db.session.commit()
    return ids


def pay_selection(payer, tokens: list[str]):
    step = payer.get("/insesp/pse/pagar", params=[("factura", t) for t in tokens])
    assert step.status_code == 200, step.text[:800]
    csrf = CSRF_RE.search(step.text).group(1)
    data = {
        "csrf_token": csrf,
        "factura": STEP_TOKENS.findall(step.text),
        "tipo_cliente": "0",
        "banco": "1007",
        "tipo_documento": "CC",
        "documento": "1099888777",
        "nombre": "Usuario Seleccion",
        "email": "",
        "telefono": "",
        "acepta_terminos": "y",
        "acepta_datos": "y",
    }
    return lambda: payer.post("/insesp/pse/pagar", data)


def press_together(presses) -> list:
    start = threading.Barrier(len(presses))

    def press(i: int):
        start.wait(timeout=30)
        return presses[i]()

    with ThreadPoolExecutor(max_workers=len(presses)) as pool:
        return list(pool.map(press, range(len(presses))))


def test_overlapping_selections_at_once(world: World):
    outcomes = {"sent_to_bank": 0, "told_which_bills": 0}
    for n in range(ROUNDS):
        client = f"88{n:04d}"
        ids = client_bills(client, 3)
        first, second = world.payer(0), world.payer(1)
        tokens = TICKED.findall(first.lookup_page(client).text)
        assert len(tokens) == 3
        # One pays the two oldest, the other all three: they overlap on two bills.
        presses = [pay_selection(first, tokens[:2]), pay_selection(second, tokens)]
        answers = press_together(presses)
        codes = sorted(r.status_code for r in answers)
        assert codes == [303, 409], [(r.status_code, r.text[:300]) for r in answers]
        refused = next(r for r in answers if r.status_code == 409)
        assert "ya tiene" in refused.text or "ya tienen" in refused.text
        assert f"SEL-{client}-0" in refused.text  # the oldest bill is in both: it is named
        holds = [h for h in world.holds() if h.bill_id in ids]
        assert (
            len(holds) == len({h.bill_id for h in holds})
            and len({h.attempt_id for h in holds}) == 1
        )
        outcomes["sent_to_bank"] += 1
        outcomes["told_which_bills"] += 1
    ledger = world.audit()
    record_race(
        "overlapping_selections",
        {"rounds": ROUNDS, **outcomes, "attempts": ledger.attempts, "doubled": ledger.doubled},
    )
    assert ledger.doubled == 0 and ledger.lost == 0


def test_two_abonos_approved_at_once_on_one_bill(world: World):
    """Two abonos for the same balance approved at the same moment (a checkout retry of a
    declined attempt and a later payment): the balance stays right, the second is flagged."""
    from sqlalchemy import select

    from gaspay.payments import services
    from gaspay.payments.models import PaymentAttempt, PaymentReview
    from tests.payments_helpers import answer
    from tests.test_reconcile import _in_threads

    app = world.portal.app
    tenant = app.extensions["gaspay.tenants"]["insesp"]
    [bill_id] = client_bills("990001", 1)
    bill = db.session.get(Bill, bill_id)
    payer = {"payer_name": "X", "payer_email": "x@correo.test"}

    def abono():
        return services.open_attempt(
            tenant,
            [bill],
            gateway="pse",
            description="abono",
            payer=payer,
            amounts={bill.id: 600_000},
        )

    first = abono()
    services.apply_answer(first, answer(first, "DECLINED", txn_id="9-1-1"), "event")
    second = abono()
    services.apply_answer(second, answer(second, "PENDING", txn_id="9-1-2"), "payer")
    answers = {
        first.id: answer(first, "APPROVED", txn_id="9-1-3"),
        second.id: answer(second, "APPROVED", txn_id="9-1-2"),
    }

    def approving(attempt_id):
        def run():
            services.apply_answer(
                db.session.get(PaymentAttempt, attempt_id), answers[attempt_id], "event"
            )

        return run

    assert _in_threads(app, approving(first.id), approving(second.id)) == []
    approved = db.session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.status == "approved")
    ).all()
    flagged = db.session.scalars(
        select(PaymentReview.attempt_id).where(PaymentReview.kind == "overpaid")
    ).all()
    bill = db.session.get(Bill, bill_id, populate_existing=True)
    record_race(
        "two_abonos_at_once",
        {"approved": len(approved), "overpaid_flags": len(flagged), "bill_state": bill.state},
    )
    # 6.000 + 6.000 applied to a bill of 10.000: paid, and exactly one approval flagged.
    assert len(approved) == 2 and len(flagged) == 1 and bill.state == "paid"
    assert services.balances([bill])[bill.id] == 0
