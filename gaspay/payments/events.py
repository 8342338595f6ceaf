"""Authentic gateway notifications -> attempts. The adapter verifies them first, in the view;
the webhook stores them (``payments.inbox``) and the worker applies them here.

A notification whose answer the gateway signs (Wompi's event) is applied as it is; one that is
only a hint (PlacetoPay's) names the transaction, which is then queried through the attempt's
own provider before anything changes.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments.gateway import GatewayError, GatewayRejected, Notice, adapter_for
from gaspay.payments.models import GatewayEvent, PaymentAttempt
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
    # Read in the same transaction as the attempt's lookup that follows; the write unit (or the
    # gateway door) that comes next ends it.
    found = db.session.scalar(
        select(GatewayEvent.id).where(
            GatewayEvent.tenant == tenant.slug, GatewayEvent.event_key == event_key
        )
    )
    return found is not None


def _queried(tenant: Tenant, attempt: PaymentAttempt, notice: Notice):
    """The answer behind a hint: the attempt's provider is asked about the transaction.

    Returns (answer, None), or (None, outcome): "unavailable" when the gateway could not answer
    (nothing is recorded, so a later delivery or the job asks again), "query_refused" when it
    answered that it knows no such transaction (recorded: a later copy changes nothing).
    """
    try:
        return adapter_for(tenant, attempt.provider).status(notice.txn_id), None
    except GatewayRejected as exc:
        log.warning("notification for %s: query refused (%s)", attempt.reference, exc)
        return None, "query_refused"
    except GatewayError as exc:
        log.warning("notification for %s: query failed (%s)", attempt.reference, type(exc))
        return None, "unavailable"


class _EventRow:
    """The audit row of one authentic event, unique per (tenant, key): written in the write unit
    of the change it causes when there is one (both commit or neither), else on its own."""

    def __init__(self, tenant: Tenant, event_key: str, answer, event: dict):
        self.tenant, self.key, self.answer, self.event = tenant, event_key, answer, event
        self.added = False

    def add(self, outcome: str) -> None:
        answer = self.answer
        db.session.add(
            GatewayEvent(
                tenant=self.tenant.slug,
                event_key=self.key,
                gateway_txn_id=answer.txn_id if answer else None,
                reference=answer.reference if answer else None,
                gateway_status=answer.status[:20] if answer else None,
                outcome=outcome,
                payload=json.dumps(self.event)[:20000],
            )
        )
        db.session.flush()  # a second copy fails here, inside the unit, before any commit

    def add_in_unit(self, changed: bool) -> None:
        self.add("applied" if changed else "no_change")
        self.added = True


def apply_notice(
    tenant: Tenant, provider: str, notice: Notice, event_key: str | None = None
) -> str:
    """Apply one verified notification; returns what happened (for the log and the audit row).

    The transition itself is idempotent (compare-and-set), so a duplicate delivery changes
    nothing; the event row, unique per (tenant, key), records each authentic event once.
    """
    event_key = event_key or notice.key
    event = notice.payload or {}
    # A copy of an event already recorded changes nothing. A signed answer's own write unit
    # holds its row (a copy fails on the row's key, inside the unit), so it is asked here only
    # before what would act outside that unit: a query to the gateway (a hint), a flag (below).
    if notice.answer is None and _already_recorded(tenant, event_key):
        log.info("%s event for %s: duplicate", provider, tenant.slug)
        return "duplicate"
    outcome = "ignored"
    answer = notice.answer
    if answer is None and notice.txn_id:
        attempt = _find_attempt(tenant, notice.txn_id, notice.reference)
        if attempt is None:
            outcome = "unknown_reference"
        elif attempt.provider != provider:
            outcome = "provider_mismatch"
        else:
            answer, failed = _queried(tenant, attempt, notice)
            outcome = failed or outcome
            db.session.refresh(attempt)
    elif answer is None and provider == "wompi" and event.get("event") == "transaction.updated":
        outcome = "malformed"
    row = _EventRow(tenant, event_key, answer, event)
    if answer is not None:
        attempt = _find_attempt(tenant, answer.txn_id, answer.reference)
        if attempt is None:
            outcome = "unknown_reference"
        elif attempt.provider != provider:
            # One provider's answer never moves (or opens a retry of) another provider's
            # attempt: only the attempt's own provider speaks for it (after a switch too).
            outcome = "provider_mismatch"
        elif problem := mismatch(attempt, answer):
            if _already_recorded(tenant, event_key):  # Wompi signs only some fields
                log.info("%s event for %s: duplicate", provider, tenant.slug)
                return "duplicate"
            outcome = f"mismatch: {problem}"[:40]
            apply_answer(attempt, answer, "event")  # flags it for review, changes nothing
        else:
            try:
                changed = apply_answer(attempt, answer, "event", record=row.add_in_unit)
            except IntegrityError:
                # Another delivery of this event stored its row first: this unit (the row and
                # any change) rolled back, the other copy's unit holds both.
                db.session.rollback()
                log.info("%s event for %s: duplicate", provider, tenant.slug)
                return "duplicate"
            outcome = "applied" if changed else "no_change"
            if row.added:
                log.info("%s event for %s: %s", provider, tenant.slug, outcome)
                return outcome
    if outcome == "unavailable":
        # No definite answer: nothing recorded, so a later delivery (or the job) tries again.
        return outcome
    try:
        with write_unit():
            row.add(outcome)
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
    log.info("%s event for %s: %s", provider, tenant.slug, outcome)
    return outcome
