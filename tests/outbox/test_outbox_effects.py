"""A payment's side effects go through the outbox: written in the transition's own transaction
(rolled back with it), one e-mail and one webhook per event, nothing sent from the request."""

from __future__ import annotations

import email
import json
from email import policy

import pytest
from sqlalchemy import func, select

from gaspay import outbox
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.outbox import NotInTransaction, OutboxMessage, enqueue, run_pending
from gaspay.payments import effects, services
from gaspay.payments import transitions as T
from gaspay.payments.models import PaymentAttempt
from tests.outbox.conftest import SECRET, verify_from_spec
from tests.payments_helpers import answer, open_pse_attempt, pending_attempt


def messages(**where) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    for key, value in where.items():
        query = query.where(getattr(OutboxMessage, key) == value)
    return list(db.session.scalars(query))


def mails(oapp) -> list[email.message.EmailMessage]:
    from pathlib import Path

    directory = Path(oapp.config["MAIL_DIR"])
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(directory.glob("*.eml"))
    ]


def approve(attempt, **over):
    values = {"cus": "CUS-7788", "bank_name": "Banco de Prueba", "payment_method": "PSE", **over}
    return services.apply_answer(attempt, answer(attempt, status="APPROVED", **values), "event")


def test_enqueue_outside_a_write_unit_is_refused(oapp):
    db.session.commit()
    with pytest.raises(NotInTransaction):
        enqueue("email", {"to": "a@b.co", "subject": "x", "text": "y"}, tenant="insesp")


def test_enqueue_never_commits_by_itself(oapp):
    with pytest.raises(RuntimeError, match="boom"), write_unit():
        enqueue("email", {"to": "a@b.co", "subject": "x", "text": "y"}, tenant="insesp")
        raise RuntimeError("boom")
    assert messages() == []


def test_an_approval_writes_its_receipt_and_webhook_in_the_same_transaction(
    oapp, otenant, make_bill, receiver
):
    attempt = pending_attempt(otenant, make_bill())
    assert messages() == []  # pending: nothing to say yet
    assert approve(attempt)
    receipt, hook = messages()
    assert (receipt.kind, receipt.topic, receipt.destination) == (
        "email",
        "receipt",
        "u@correo.test",
    )
    assert (hook.kind, hook.topic, hook.destination) == (
        "webhook",
        "payment.approved",
        receiver.url,
    )
    assert {m.subject_type for m in (receipt, hook)} == {"payment_attempt"}
    assert {m.subject_id for m in (receipt, hook)} == {attempt.id}
    assert receiver.received == [] and mails(oapp) == []  # nothing sent from the request

    assert run_pending()
    [mail] = mails(oapp)
    assert mail["To"] == "u@correo.test" and mail["Message-ID"].startswith(f"<{receipt.uid}@")
    [delivery] = receiver.received
    event = verify_from_spec(SECRET, delivery.headers, delivery.body)
    assert delivery.headers["webhook-id"] == hook.uid
    assert event["type"] == "payment.approved"
    data = event["data"]
    assert data["reference"] == attempt.reference and data["status"] == "approved"
    assert (data["amount_cents"], data["currency"]) == (1_800_000, "COP")
    assert (data["cus"], data["bank"], data["method"]) == ("CUS-7788", "Banco de Prueba", "PSE")
    assert data["approved_at"].endswith("Z") and data["tenant"] == "insesp"
    [bill] = data["bills"]
    assert bill["client_number"] == "0021053" and bill["amount_applied_cents"] == 1_800_000
    assert len(delivery.body) < 20 * 1024


def test_an_approval_rolled_back_after_its_outbox_rows_sends_nothing(
    oapp, otenant, make_bill, receiver, monkeypatch
):
    attempt = pending_attempt(otenant, make_bill())
    real = effects.after_transition
    written = []

    def then_fail(*args, **kwargs):
        real(*args, **kwargs)
        written.append(db.session.scalar(select(func.count()).select_from(OutboxMessage)))
        raise RuntimeError("the database went away before the commit")

    monkeypatch.setattr(effects, "after_transition", then_fail)
    with pytest.raises(RuntimeError, match="went away"):
        approve(attempt)
    assert written == [2]  # the receipt and the webhook were in the transaction…
    assert messages() == []  # …and went with it
    assert db.session.get(PaymentAttempt, attempt.id, populate_existing=True).status == T.PENDING
    assert run_pending()
    assert receiver.received == [] and mails(oapp) == []


def test_declined_at_the_gateway_gets_a_short_mail_and_its_event(oapp, otenant, make_bill):
    attempt = pending_attempt(otenant, make_bill())
    services.apply_answer(attempt, answer(attempt, status="DECLINED"), "event")
    mail, hook = messages()
    assert (mail.topic, json.loads(mail.payload)["render"]) == (
        "not_approved",
        "payment_not_approved",
    )
    assert hook.topic == "payment.declined"
    assert run_pending()
    [message] = mails(oapp)
    assert "no fue aprobado" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "No se realizó ningún cobro" in text and "intentarlo de nuevo" in text
    assert f"/insesp/pagos/{attempt.reference}?c=" in text
    assert list(message.iter_attachments()) == []


def test_a_failure_that_never_reached_the_gateway_sends_no_mail(oapp, otenant, make_bill):
    attempt = open_pse_attempt(otenant, make_bill())
    assert attempt.gateway_txn_id is None
    assert services.transition(attempt.id, T.REJECTED, "payer")
    [hook] = messages()
    assert (hook.kind, hook.topic) == ("webhook", "payment.failed")


@pytest.mark.parametrize(
    ("incoming", "event"), [("EXPIRE", "payment.expired"), ("VOIDED", "payment.voided")]
)
def test_expired_and_voided_are_events_only(oapp, otenant, make_bill, incoming, event):
    attempt = pending_attempt(otenant, make_bill())
    assert services.transition(attempt.id, incoming, "job")
    [hook] = messages()
    assert (hook.kind, hook.topic) == ("webhook", event)


def test_a_flag_is_a_payment_review_event(oapp, otenant, make_bill, receiver):
    attempt = pending_attempt(otenant, make_bill())
    services.flag_for_review(attempt.id, "valor 1 != 1800000")
    [hook] = messages()
    assert hook.topic == "payment.review"
    assert run_pending()
    event = verify_from_spec(SECRET, receiver.received[0].headers, receiver.received[0].body)
    assert event["data"]["review_reason"] == "valor 1 != 1800000"
    assert event["data"]["status"] == "pending"


def test_a_payment_of_a_tenant_without_endpoints_writes_only_the_mail(make_outbox_app, make_bill):
    plain = make_outbox_app(None)
    tenant = plain.extensions["gaspay.tenants"]["insesp"]
    attempt = pending_attempt(tenant, make_bill())
    approve(attempt)
    assert [(m.kind, m.topic) for m in messages()] == [("email", "receipt")]


def test_a_bill_holders_own_mailbox_still_gets_the_receipt(oapp, otenant, make_bill):
    attempt = pending_attempt(otenant, make_bill())
    db.session.execute(
        PaymentAttempt.__table__.update()
        .where(PaymentAttempt.id == attempt.id)
        .values(payer_email="titular@correo.test", payer_email_source="bill")
    )
    db.session.commit()
    approve(attempt)
    [receipt] = messages(kind="email")
    assert receipt.destination == "titular@correo.test"


def test_the_reset_mail_commits_with_the_reset_link(make_outbox_app):
    from gaspay.accounts.models import PasswordReset
    from gaspay.accounts.services import create_customer

    accounts = make_outbox_app(None)
    create_customer("interservicios", "ana@correo.test", "clave-segura-2026", "Ana")
    client = accounts.test_client()
    page = client.get("/interservicios/clientes/recuperar").get_data(as_text=True)
    from tests.conftest import csrf_from

    data = {"email": "ana@correo.test", "csrf_token": csrf_from(page)}
    assert client.post("/interservicios/clientes/recuperar", data=data).status_code == 200
    [reset] = db.session.scalars(select(PasswordReset)).all()
    [message] = messages()
    assert (message.kind, message.topic, message.destination) == (
        "email",
        "password_reset",
        "ana@correo.test",
    )
    assert message.created_at is not None and reset.customer_id is not None
    assert mails(accounts) == []  # not sent from the request
    assert outbox.run_pending()
    [mail] = mails(accounts)
    assert "/interservicios/clientes/restablecer/" in mail.get_content()


def test_an_approval_reads_its_bills_once_and_never_reads_the_attempt_back(
    oapp, otenant, make_bill, receiver
):
    """The bills are read and locked in one statement; the receipt and the webhook are built
    from the row the update wrote and those bills (issue 16: 13 statements per event -> 9)."""
    from sqlalchemy import event

    attempt = pending_attempt(otenant, make_bill())
    seen: list[str] = []

    def record(conn, cursor, statement, *rest):
        seen.append(" ".join(statement.split()).lower())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert approve(attempt)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    update = next(i for i, s in enumerate(seen) if s.startswith("update payment_attempts"))
    after = seen[update + 1 :]
    assert not [s for s in after if s.startswith("select payment_attempts.")]
    bill_reads = [s for s in after if s.startswith("select") and " bills" in s]
    [links] = [s for s in bill_reads if "from attempt_bills join bills" in s]
    assert "bills.client_display" in links
    if db.engine.dialect.name == "postgresql":
        assert links.endswith("for update of bills")
    assert run_pending()
    [delivery] = receiver.received
    data = verify_from_spec(SECRET, delivery.headers, delivery.body)["data"]
    row = db.session.get(PaymentAttempt, attempt.id, populate_existing=True)
    assert data["finalized_at"] == row.finalized_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (data["status"], data["cus"]) == ("approved", "CUS-7788")
    [bill] = data["bills"]
    assert (bill["client_number"], bill["amount_applied_cents"]) == ("0021053", 1_800_000)
