"""Authentic gateway events -> attempts. Signature checking happens before this, in the view."""

from __future__ import annotations

import json
import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.gateways.wompi import Transaction
from gaspay.payments.models import GatewayEvent, PaymentAttempt
from gaspay.payments.providers import GatewayError, to_answer
from gaspay.payments.services import apply_answer, attempts_query, mismatch
from gaspay.tenancy.config import Tenant

log = logging.getLogger(__name__)


def _find_attempt(tenant: Tenant, txn_id: str, reference: str) -> PaymentAttempt | None:
    by_txn = db.session.scalars(
        attempts_query(tenant).where(PaymentAttempt.gateway_txn_id == txn_id)
    ).first()
    if by_txn is not None:
        return by_txn
    return db.session.scalars(
        attempts_query(tenant).where(
            PaymentAttempt.reference == reference, PaymentAttempt.retry_of_id.is_(None)
        )
    ).first()


def _already_recorded(tenant: Tenant, event_key: str) -> bool:
    """Wompi signs only some fields: a replayed copy with others changed must not be applied."""
    found = db.session.scalar(
        select(GatewayEvent.id).where(
            GatewayEvent.tenant == tenant.slug, GatewayEvent.event_key == event_key
        )
    )
    db.session.rollback()  # services start from a clean session
    return found is not None


def apply_wompi_event(tenant: Tenant, event: dict, event_key: str) -> str:
    """Apply one verified Wompi event; returns what happened (for the log and the audit row).

    The transition itself is idempotent (compare-and-set), so a duplicate delivery changes
    nothing; the event row, unique per (tenant, key), records each authentic event once.
    """
    if _already_recorded(tenant, event_key):
        log.info("wompi event for %s: duplicate", tenant.slug)
        return "duplicate"
    outcome = "ignored"
    answer = None
    if event.get("event") == "transaction.updated":
        try:
            answer = to_answer(Transaction.from_api(event["data"]["transaction"]))
        except (GatewayError, KeyError, TypeError):
            outcome = "malformed"
    if answer is not None:
        attempt = _find_attempt(tenant, answer.txn_id, answer.reference)
        if attempt is None:
            outcome = "unknown_reference"
        elif problem := mismatch(attempt, answer):
            outcome = f"mismatch: {problem}"[:40]
            apply_answer(attempt, answer, "event")  # flags it for review, changes nothing
        else:
            outcome = "applied" if apply_answer(attempt, answer, "event") else "no_change"
    try:
        with write_unit():
            db.session.add(
                GatewayEvent(
                    tenant=tenant.slug,
                    event_key=event_key,
                    gateway_txn_id=answer.txn_id if answer else None,
                    reference=answer.reference if answer else None,
                    gateway_status=answer.status[:20] if answer else None,
                    outcome=outcome,
                    payload=json.dumps(event)[:20000],
                )
            )
    except IntegrityError:
        # Another delivery of the same event stored its row first. When this one is the copy
        # that moved the attempt, say so in the stored row (the other saw "no_change").
        if outcome == "applied":
            with write_unit():
                db.session.execute(
                    update(GatewayEvent)
                    .where(GatewayEvent.tenant == tenant.slug, GatewayEvent.event_key == event_key)
                    .values(outcome="applied")
                )
            return outcome
        outcome = "duplicate"
    log.info("wompi event for %s: %s", tenant.slug, outcome)
    return outcome
