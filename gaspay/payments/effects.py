"""What a payment's status change causes besides itself.

Called by ``payments.services`` inside the very write unit that moves the attempt (or flags
it), so whatever is written here — an outbox message, a webhook — commits with the change or
not at all. Nothing here may call the network: the worker delivers after the commit.

- approved: the receipt e-mail (with its PDF) to the payer's e-mail, and ``payment.approved``;
- declined / failed, when the attempt reached the gateway: a short e-mail with the way to try
  again, and ``payment.declined`` / ``payment.failed``;
- expired: ``payment.expired``; voided: ``payment.voided``; flagged: ``payment.review``.
"""

from __future__ import annotations

from collections import namedtuple

from flask import current_app, has_request_context, request
from sqlalchemy import select

from gaspay.billing.models import Bill
from gaspay.extensions import db
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptBill, PaymentAttempt

EVENTS = {
    T.APPROVED: "payment.approved",
    T.DECLINED: "payment.declined",
    T.FAILED: "payment.failed",
    T.EXPIRED: "payment.expired",
    T.VOIDED: "payment.voided",
}
SUBJECT = "payment_attempt"


def _iso(value) -> str | None:
    if value is None:
        return None
    from gaspay.timeutil import as_utc

    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


ROW = (
    "id",
    "tenant",
    "reference",
    "status",
    "amount_cents",
    "currency",
    "gateway",
    "payment_method",
    "bank_name",
    "cus",
    "gateway_txn_id",
    "created_at",
    "finalized_at",
    "payer_email",
)
Row = namedtuple("Row", ROW)


def row_after(attempt: PaymentAttempt, values: dict) -> Row:
    """What the effects read of an attempt, once an update of ``values`` has moved it."""
    return Row(*(values[k] if k in values else getattr(attempt, k) for k in ROW))


def _attempt(attempt_id: int):
    """The attempt's row as this write unit sees it (the update above bypassed the ORM).

    Read as a plain row, so the caller's ORM object (which still holds the old status) is left
    as it is.
    """
    columns = (getattr(PaymentAttempt, k) for k in ROW)
    return db.session.execute(select(*columns).where(PaymentAttempt.id == attempt_id)).one()


def bill_links(attempt_id: int, *more):
    """The attempt's bills as its webhook tells them (and ``more`` columns), in bill order."""
    return (
        select(
            Bill.bill_number,
            Bill.client_display,
            Bill.period,
            AttemptBill.amount_cents,
            AttemptBill.bill_amount_cents,
            *more,
        )
        .join(Bill, Bill.id == AttemptBill.bill_id)
        .where(AttemptBill.attempt_id == attempt_id)
        .order_by(AttemptBill.bill_id)
    )


def webhook_data(attempt, links=None) -> dict:
    """What the biller needs to apply the payment without asking back (outbound-webhooks.md).

    ``links``: the attempt's bills when the caller has just read them (bill_number,
    client_display, period, amount_cents, bill_amount_cents; in bill order)."""
    if links is None:
        links = db.session.execute(bill_links(attempt.id)).all()
    return {
        "tenant": attempt.tenant,
        "reference": attempt.reference,
        "status": attempt.status,
        "amount_cents": attempt.amount_cents,
        "currency": attempt.currency,
        "gateway": attempt.gateway,
        "method": attempt.payment_method,
        "bank": attempt.bank_name,
        "cus": attempt.cus,
        "gateway_transaction_id": attempt.gateway_txn_id,
        "created_at": _iso(attempt.created_at),
        "approved_at": _iso(attempt.finalized_at) if attempt.status == T.APPROVED else None,
        "finalized_at": _iso(attempt.finalized_at),
        "bills": [
            {
                "bill_number": link.bill_number,
                "client_number": link.client_display,
                "period": link.period,
                "amount_applied_cents": link.amount_cents,
                "bill_amount_cents": link.bill_amount_cents,
            }
            for link in links
        ],
    }


def _base_url() -> str | None:
    """The request's host for the e-mail's link, when it can be trusted (see reset_link)."""
    if not has_request_context():
        return None
    config = current_app.config
    if config.get("PUBLIC_URL"):
        return None  # mail_link uses it
    # Only a host Flask has checked (TRUSTED_HOSTS, SERVER_NAME): anyone can send a Host header,
    # and the link carries the payer's mailbox capability. Else PUBLIC_URL or the sandbox's.
    if not (config.get("TRUSTED_HOSTS") or config.get("SERVER_NAME")):
        return None
    return request.host_url


def _tenant(slug: str):
    return current_app.extensions["gaspay.tenants"].get(slug)


def _payer_mail(attempt, render: str, topic: str) -> None:
    from gaspay.outbox import enqueue

    if not attempt.payer_email:
        return
    # A payer_email taken from the bill ("bill") is the holder's own mailbox: still sent.
    enqueue(
        "email",
        {
            "to": attempt.payer_email,
            "render": render,
            "attempt_id": attempt.id,
            "base_url": _base_url(),
        },
        tenant=attempt.tenant,
        topic=topic,
        destination=attempt.payer_email,
        subject=(SUBJECT, attempt.id),
    )


def after_transition(attempt: Row, links=None) -> None:
    """The attempt moved to ``attempt.status`` (inside the write unit); ``links`` as for
    ``webhook_data``, when the transition read them."""
    to_status = attempt.status
    event = EVENTS.get(to_status)
    if event is None:
        return
    from gaspay.outbox.webhooks import enqueue_event

    if to_status == T.APPROVED:
        _payer_mail(attempt, "payment_receipt", "receipt")
    elif to_status in (T.DECLINED, T.FAILED) and attempt.gateway_txn_id:
        _payer_mail(attempt, "payment_not_approved", "not_approved")
    company = _tenant(attempt.tenant)
    if company is not None and company.webhooks:
        data = webhook_data(attempt, links)
        enqueue_event(company, event, data, subject=(SUBJECT, attempt.id))


def after_flag(attempt_id: int, tenant: str, reason: str) -> None:
    """The attempt was flagged for staff review (inside the write unit)."""
    company = _tenant(tenant)
    if company is None or not company.webhooks:
        return
    from gaspay.outbox.webhooks import enqueue_event

    data = webhook_data(_attempt(attempt_id))
    data["review_reason"] = reason
    enqueue_event(company, "payment.review", data, subject=(SUBJECT, attempt_id))
