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
from sqlalchemy import or_, select, update

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments import transitions as T
from gaspay.payments.gateway import GatewayError, GatewayRejected, adapter_for
from gaspay.payments.models import PaymentAttempt
from gaspay.payments.schedule import is_stuck, next_check
from gaspay.payments.services import (
    apply_answer,
    find_by_transaction_tenant,
    flag_stuck_pending,
    transition,
)
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
    """Ask the gateway about one attempt and apply a definite answer. True if it moved.

    The attempt's own provider answers, whoever serves the tenant today.
    """
    provider = adapter_for(tenant, attempt.provider)
    txn_id = txn_id or attempt.gateway_txn_id
    reference = attempt.reference
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


def claim_payer_check(attempt_id: int) -> bool:
    """At most one payer-side gateway check per attempt every few seconds, whoever asks."""
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=PAYER_CHECK_SECONDS)
    with write_unit():
        changed = db.session.execute(
            update(PaymentAttempt)
            .where(
                PaymentAttempt.id == attempt_id,
                or_(PaymentAttempt.checked_at.is_(None), PaymentAttempt.checked_at < cutoff),
            )
            .values(checked_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    return changed == 1


def refresh_for_payer(tenant: Tenant, attempt: PaymentAttempt, txn_id: str | None) -> None:
    """On the payer's return or a status poll: ask the gateway, at most every few seconds.

    The throttle is per attempt and ignores the query string: a transaction id in the URL
    (the gateway's return) is used only when a check is due anyway.
    """
    if attempt.is_final:
        # A checkout retry may come back with a new transaction under the same reference.
        if txn_id is None or txn_id == attempt.gateway_txn_id:
            return
        known = find_by_transaction_tenant(attempt.tenant, attempt.gateway, txn_id)
        if known is not None and known.is_final:
            return
    if not claim_payer_check(attempt.id):
        return
    try:
        check_attempt(tenant, attempt, "payer", txn_id)
    except GatewayRejected as exc:
        log.info("payer check of %s refused by gateway: %s", attempt.reference, exc.reason)
    except GatewayError:
        log.warning("payer check of %s: gateway unavailable", attempt.reference)
    db.session.refresh(attempt)


def reconcile_due(tenants: dict[str, Tenant], *, limit: int = 200) -> ReconcileReport:
    """One pass of the job over the attempts that are due now, and any live one without a check.

    Each attempt is handled in its own try: one that fails in any way is logged and counted,
    keeps its (already advanced) next check, and never stops the others.
    """
    now = utcnow()
    rows = db.session.execute(
        select(
            PaymentAttempt.id,
            PaymentAttempt.tenant,
            PaymentAttempt.next_check_at,
            PaymentAttempt.created_at,
        )
        .where(
            PaymentAttempt.status.in_(T.LIVE),
            or_(PaymentAttempt.next_check_at <= now, PaymentAttempt.next_check_at.is_(None)),
        )
        .order_by(PaymentAttempt.next_check_at)
        .limit(limit)
    ).all()
    db.session.rollback()
    report = ReconcileReport(due=len(rows))
    for attempt_id, slug, next_at, created_at in rows:
        tenant = tenants.get(slug)
        if tenant is None:
            report.skipped += 1
            continue
        until = next_check(created_at, now, tenant.pending_review_hours)
        if not _claim(attempt_id, next_at, until):
            report.skipped += 1
            continue
        report.checked += 1
        try:
            _check_one(tenant, attempt_id, now, report)
        except Exception as exc:  # one bad attempt never stops the others
            db.session.rollback()
            report.errors.append(f"{attempt_id}: {type(exc).__name__}")
            log.exception("reconcile of attempt %s failed; next check stays scheduled", attempt_id)
    return report


def _check_one(tenant: Tenant, attempt_id: int, now: dt.datetime, report: ReconcileReport):
    attempt = db.session.get(PaymentAttempt, attempt_id, populate_existing=True)
    try:
        moved = check_attempt(tenant, attempt, "job")
    except GatewayError as exc:
        report.unavailable += 1
        log.warning("reconcile %s: gateway unavailable (%s)", attempt.reference, type(exc))
        moved = False
    db.session.refresh(attempt)
    if moved:
        report.transitions += 1
        if attempt.status == T.EXPIRED:
            report.expired += 1
    stuck = attempt.status in T.LIVE and attempt.stuck_flagged_at is None
    if stuck and is_stuck(attempt.created_at, now, tenant.pending_review_hours):
        flag_stuck_pending(attempt.id, tenant.pending_review_hours)
