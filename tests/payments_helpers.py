"""Shared steps for payment tests: open an attempt, give it a gateway transaction."""

from __future__ import annotations

from gaspay.payments import services
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
