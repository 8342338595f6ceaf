"""Shared steps for payment tests: open an attempt, give it a gateway transaction."""

from __future__ import annotations

from sqlalchemy import func, select

from gaspay.extensions import db
from gaspay.outbox import OutboxMessage, run_pending
from gaspay.payments import inbox, services
from gaspay.payments.models import GatewayEvent
from gaspay.payments.services import GatewayAnswer


def open_pse_attempt(tenant, bill, **payer):
    payer = {
        "payer_name": "Usuario Demo",
        "payer_email": "u@correo.test",
        "payer_ip": "127.0.0.1",
        **payer,
    }
    return services.open_attempt(
        tenant, [bill], gateway="pse", description="Factura gas 21053", payer=payer
    )


def answer(attempt, status="PENDING", txn_id="1234-1-1", **over):
    values = {
        "txn_id": txn_id,
        "status": status,
        "reference": attempt.reference,
        "amount_cents": attempt.amount_cents,
        "currency": attempt.currency,
    }
    values.update(over)
    return GatewayAnswer(**values)


def pending_attempt(tenant, bill, txn_id="1234-1-1"):
    attempt = open_pse_attempt(tenant, bill)
    services.apply_answer(attempt, answer(attempt, txn_id=txn_id), "payer")
    return attempt


def payer_url(attempt, query: str = "") -> str:
    """The receipt URL as the payer's mailbox link opens it (the capability in `c`)."""
    from gaspay.payments.access import mail_capability

    sep = "&" if query else ""
    return f"/{attempt.tenant}/pagos/{attempt.reference}?{query}{sep}c={mail_capability(attempt)}"


def let_checks_through(attempt) -> None:
    """Time passes: the payer-side throttle (a few seconds per attempt) lets the next check by."""
    from sqlalchemy import update

    from gaspay.db import write_unit
    from gaspay.extensions import db
    from gaspay.payments.models import PaymentAttempt

    with write_unit():
        db.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.reference == attempt.reference)
            .values(checked_at=None)
        )


def apply_events() -> None:
    """The worker's pass over the stored gateway notifications (``make run`` runs it)."""
    db.session.rollback()
    assert run_pending([inbox.KIND])
    db.session.rollback()


def event_outcome(response, since: int) -> str | None:
    """What became of one posted notification: the webhook's answer when it stored nothing
    ("duplicate", or no JSON), else what the worker's pass made of it — the outcome of the
    audit row it wrote, "unavailable" when the gateway could not be queried (retried later),
    "duplicate" when the apply found the event already recorded."""
    outcome = response.json.get("outcome") if response.is_json else None
    if outcome != inbox.QUEUED:
        return outcome
    apply_events()
    row = db.session.scalar(
        select(GatewayEvent).where(GatewayEvent.id > since).order_by(GatewayEvent.id.desc())
    )
    if row is not None:
        return row.outcome
    message = db.session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.kind == inbox.KIND)
        .order_by(OutboxMessage.id.desc())
    )
    return "unavailable" if message is not None and message.failures else "duplicate"


def last_event_id() -> int:
    return db.session.scalar(select(func.max(GatewayEvent.id))) or 0


def post_event(client, path: str, **kwargs):
    """POST a notification as the gateway does, then the worker's pass: (response, outcome)."""
    since = last_event_id()
    response = client.post(path, **kwargs)
    return response, event_outcome(response, since)
