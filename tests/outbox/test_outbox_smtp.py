"""E-mail through a real SMTP server on 127.0.0.1 (aiosmtpd): down, then refusing for a
while, then up — every receipt arrives once, with its PDF; and a bad address is not retried."""

from __future__ import annotations

import email
import socket
import threading
import time
from email import policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.outbox import DELIVERED, FAILED, OutboxMessage, Worker, enqueue
from gaspay.payments import services
from tests.outbox.figures import record_figures
from tests.payments_helpers import answer, pending_attempt


class Sink:
    """An SMTP server's handler: keeps every message; answers 451 to the first ``refuse``."""

    def __init__(self, refuse: int = 0):
        self.refuse = refuse
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@rebota.test"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return "451 4.3.0 try again later"
            self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def mail_app(make_outbox_app, smtp_port):
    return make_outbox_app(
        None,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_port,
        MAIL_USE_TLS=False,
        MAIL_FROM="Pagos <pagos@gaspay.test>",
        OUTBOX_RETRY_SCHEDULE=[0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0],
    )


def statuses() -> list[str]:
    db.session.commit()
    return [m.status for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_smtp_down_then_refusing_then_up_every_receipt_arrives_once(mail_app, smtp_port, make_bill):
    tenant = mail_app.extensions["gaspay.tenants"]["insesp"]
    attempts = [
        pending_attempt(tenant, make_bill(client=f"90{i}"), txn_id=f"9-{i}") for i in range(3)
    ]
    for i, attempt in enumerate(attempts):
        answer_ = answer(attempt, status="APPROVED", txn_id=f"9-{i}", cus=f"CUS-{i}")
        assert services.apply_answer(attempt, answer_, "event")
    worker = Worker(mail_app, reconcile_seconds=0)

    # The server is down: connection refused, each receipt rescheduled.
    for _ in range(3):
        worker.run_once(reconcile=False)
        time.sleep(0.25)
    assert statuses() == ["pending"] * 3
    failed_while_down = sum(len(m.deliveries) for m in db.session.scalars(select(OutboxMessage)))
    assert failed_while_down >= 3

    # Up, but answering "451 try again later" to the first two.
    sink = Sink(refuse=2)
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and statuses() != [DELIVERED] * 3:
            worker.run_once(reconcile=False)
            time.sleep(0.1)
    finally:
        controller.stop()
    assert statuses() == [DELIVERED] * 3
    ids = [m["Message-ID"] for m in sink.messages]
    assert len(ids) == len(set(ids)) == 3  # each receipt once
    uids = {m.uid for m in db.session.scalars(select(OutboxMessage))}
    assert {i.strip("<>").split("@")[0] for i in ids} == uids
    for message in sink.messages:
        assert message["From"] == "Insesp <pagos@gaspay.test>"
        [pdf] = list(message.iter_attachments())
        assert pdf.get_content_type() == "application/pdf"
        assert pdf.get_content()[:5] == b"%PDF-"
    codes = [
        d.status_code
        for m in db.session.scalars(select(OutboxMessage))
        for d in m.deliveries
        if d.status_code
    ]
    assert codes.count(451) == 2 and codes.count(250) == 3
    record_figures(
        "smtp_down_then_up",
        receipts=3,
        arrived=len(sink.messages),
        distinct_message_ids=len(set(ids)),
        lost=3 - len(set(ids)),
        doubled=len(ids) - len(set(ids)),
        attempts_while_down=failed_while_down,
        refused_451=codes.count(451),
    )


def test_a_recipient_refused_for_good_is_not_retried(mail_app, smtp_port):
    with write_unit():
        message = enqueue(
            "email",
            {"to": "nadie@rebota.test", "subject": "Prueba", "text": "hola"},
            tenant="insesp",
            topic="test",
        )
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        Worker(mail_app).run_once(reconcile=False)
    finally:
        controller.stop()
    stored = db.session.get(OutboxMessage, message.id, populate_existing=True)
    assert stored.status == FAILED and stored.deliveries[0].status_code == 550
    assert sink.messages == []
