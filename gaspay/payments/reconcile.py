"""Asking the gateway what became of an attempt: on the payer's return, and from the job.

The job looks only at live attempts that are due, claims each with a compare-and-set on its
next check time (so several servers running it at once never check one attempt twice), asks
the gateway outside any transaction, and changes state only on a definite answer.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select, update

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments import transitions as T
from gaspay.payments.models import PaymentAttempt
from gaspay.payments.providers import GatewayError, GatewayRejected, pse_provider
from gaspay.payments.services import apply_answer, find_by_transaction_tenant, transition
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)
PAYER_CHECK_SECONDS = 8  # the result page asks the gateway at most this often per attempt


@dataclass
class ReconcileReport:
    due: int = 0
    checked: int = 0
    transitions: int = 0
    unavailable: int = 0
    expired: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _claim(attempt_id: int, seen_next: dt.datetime | None, until: dt.datetime) -> bool:
    """Take the attempt for one check; False if another worker (or an event) got there first."""
    with write_unit():
        stmt = update(PaymentAttempt).where(
            PaymentAttempt.id == attempt_id, PaymentAttempt.status.in_(T.LIVE)
        )
        stmt = stmt.where(
            PaymentAttempt.next_check_at.is_(None)
            if seen_next is None
            else PaymentAttempt.next_check_at == seen_next
        )
        changed = db.session.execute(
            stmt.values(
                next_check_at=until, checked_at=utcnow(), checks=PaymentAttempt.checks + 1
            ).execution_options(synchronize_session=False)
        ).rowcount
    return changed == 1


def check_attempt(
    tenant: Tenant, attempt: PaymentAttempt, source: str, txn_id: str | None = None
) -> bool:
    """Ask the gateway about one attempt and apply a definite answer. True if it moved."""
    provider = pse_provider(tenant)
    txn_id = txn_id or attempt.gateway_txn_id
    reference = attempt.reference
    db.session.rollback()  # no transaction open across the gateway call
    if txn_id:
        answer = provider.status(txn_id)
        if answer.reference != reference:
            log.warning("transaction %s is not for %s: ignored", txn_id, reference)
            return False
        return apply_answer(attempt, answer, source)
    answers = provider.find(reference)
    if answers:
        moved = False
        for answer in answers:
            moved = apply_answer(attempt, answer, source) or moved
        return moved
    age = utcnow() - as_utc(attempt.created_at)
    limit = dt.timedelta(minutes=current_app.config["RECONCILE_EXPIRE_UNKNOWN_MINUTES"])
    if age > limit:
        # The gateway has no transaction under our reference long after we tried: nothing was
        # charged, and the bill may be paid again.
        return transition(attempt.id, T.EXPIRE, source)
    return False


def refresh_for_payer(tenant: Tenant, attempt: PaymentAttempt, txn_id: str | None) -> None:
    """On the payer's return or a status poll: ask the gateway, at most every few seconds."""
    if attempt.is_final:
        # A checkout retry may come back with a new transaction under the same reference.
        if txn_id is None or txn_id == attempt.gateway_txn_id:
            return
        known = find_by_transaction_tenant(attempt.tenant, attempt.gateway, txn_id)
        if known is not None and known.is_final:
            return
    last = as_utc(attempt.checked_at) if attempt.checked_at else None
    if txn_id is None and last and (utcnow() - last).total_seconds() < PAYER_CHECK_SECONDS:
        return
    with write_unit():
        db.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == attempt.id)
            .values(checked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    try:
        check_attempt(tenant, attempt, "payer", txn_id)
    except GatewayRejected as exc:
        log.info("payer check of %s refused by gateway: %s", attempt.reference, exc.reason)
    except GatewayError:
        log.warning("payer check of %s: gateway unavailable", attempt.reference)
    db.session.refresh(attempt)


def reconcile_due(tenants: dict[str, Tenant], *, limit: int = 200) -> ReconcileReport:
    """One pass of the job over the attempts that are due now."""
    now = utcnow()
    interval = dt.timedelta(minutes=current_app.config["RECONCILE_INTERVAL_MINUTES"])
    rows = db.session.execute(
        select(PaymentAttempt.id, PaymentAttempt.tenant, PaymentAttempt.next_check_at)
        .where(PaymentAttempt.status.in_(T.LIVE), PaymentAttempt.next_check_at <= now)
        .order_by(PaymentAttempt.next_check_at)
        .limit(limit)
    ).all()
    db.session.rollback()
    report = ReconcileReport(due=len(rows))
    for attempt_id, slug, next_at in rows:
        tenant = tenants.get(slug)
        if tenant is None or not _claim(attempt_id, next_at, now + interval):
            report.skipped += 1
            continue
        attempt = db.session.get(PaymentAttempt, attempt_id, populate_existing=True)
        report.checked += 1
        try:
            moved = check_attempt(tenant, attempt, "job")
        except GatewayError as exc:
            report.unavailable += 1
            log.warning("reconcile %s: gateway unavailable (%s)", attempt.reference, type(exc))
            continue
        if moved:
            report.transitions += 1
            db.session.refresh(attempt)
            if attempt.status == T.EXPIRED:
                report.expired += 1
    return report
