"""Writing messages with the change that causes them, claiming them, recording each delivery.

``enqueue`` only adds a row to the caller's open transaction: it never commits and never
sends, so a message exists exactly when the change that caused it committed. Claims are short
write units: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (workers on several servers
take disjoint messages), ``BEGIN IMMEDIATE`` on SQLite (claims take turns); a claim is a lease
(``lease_until``), so the messages of a worker killed mid-batch are taken again once it ends.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.outbox import registry
from gaspay.outbox.models import (
    DELIVERED,
    DISABLED,
    FAILED,
    PENDING,
    STATUSES,
    OutboxDelivery,
    OutboxMessage,
)
from gaspay.outbox.registry import Job, Outcome
from gaspay.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)
DEFAULT_LEASE_SECONDS = 120.0
MAX_PAYLOAD = 256 * 1024


class NotInTransaction(RuntimeError):
    """``enqueue`` was called with no write unit open: the message would not commit with it."""


def enqueue(
    kind: str,
    payload: dict[str, Any],
    *,
    tenant: str | None,
    topic: str = "",
    destination: str = "",
    subject: tuple[str, int] | None = None,
    not_before: dt.datetime | None = None,
    uid: str | None = None,
) -> OutboxMessage:
    """Add one message to the caller's current write unit (it commits or rolls back with it).

    ``payload`` is JSON-serialisable input for the kind's handler; ``subject`` says what the
    message is about (``("payment_attempt", 42)``) for staff pages; ``not_before`` delays it;
    ``uid`` (unique, at most 40 characters) makes a second message of the same thing fail with
    an IntegrityError at the commit. Raises NotInTransaction outside a write unit.
    """
    session = db.session()
    if not session.in_transaction():
        raise NotInTransaction("enqueue() must run inside the caller's write unit")
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): escaped, not refused
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    if len(body) > MAX_PAYLOAD:
        raise ValueError(f"outbox payload too large ({len(body)} characters)")
    now = utcnow()
    message = OutboxMessage(
        uid=uid or "msg_" + secrets.token_hex(12),
        tenant=tenant,
        kind=kind,
        topic=topic[:60],
        destination=destination[:500],
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        payload=body,
        status=PENDING,
        attempts=0,
        failures=0,
        next_attempt_at=not_before or now,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    return message


def tell_support(
    tenant, subject: str, text: str, *, topic: str, about: tuple[str, int] | None = None
) -> OutboxMessage:
    """Inside the caller's write unit: a plain-text e-mail to the company's support address."""
    return enqueue(
        "email",
        {"to": tenant.support_email, "subject": subject, "text": text},
        tenant=tenant.slug,
        topic=topic,
        destination=tenant.support_email,
        subject=about,
    )


# --- configuration ----------------------------------------------------------------------------


def _seconds_list(value) -> tuple[float, ...] | None:
    """``[5, 300]`` or ``"5,300"`` (the environment's spelling) -> (5.0, 300.0)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = [part for part in value.replace(";", ",").split(",") if part.strip()]
    return tuple(float(v) for v in value)


def schedule_for(kind: str) -> tuple[float, ...]:
    handler = registry.handler_for(kind)
    if handler is not None and handler.retry_schedule is not None:
        return handler.retry_schedule
    configured = _seconds_list(current_app.config.get("OUTBOX_RETRY_SCHEDULE"))
    return configured if configured is not None else registry.DEFAULT_SCHEDULE


def lease_for(kind: str | None = None) -> dt.timedelta:
    handler = registry.handler_for(kind) if kind else None
    seconds = (handler.lease_seconds if handler else None) or float(
        current_app.config.get("OUTBOX_LEASE_SECONDS") or DEFAULT_LEASE_SECONDS
    )
    return dt.timedelta(seconds=seconds)


def retry_delay(kind: str, failures: int, retry_after: float | None = None) -> float | None:
    """Seconds before the next attempt after ``failures`` failures in a row; None: give up."""
    schedule = schedule_for(kind)
    if failures > len(schedule):
        return None
    delay = schedule[failures - 1]
    jitter = float(current_app.config.get("OUTBOX_RETRY_JITTER", 0.1) or 0)
    if jitter:
        delay *= random.uniform(1 - jitter, 1 + jitter)  # jitter: spreads retries, not security
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), 24 * 3600))
    return delay


# --- claiming ---------------------------------------------------------------------------------


def _due(now: dt.datetime):
    return (
        (OutboxMessage.status == PENDING)
        & (OutboxMessage.next_attempt_at <= now)
        & or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now)
    )


def claim(worker: str, *, limit: int = 10, kinds: Sequence[str] | None = None) -> list[int]:
    """Take up to ``limit`` due messages for ``worker`` (a lease); their ids, oldest due first."""
    now = utcnow()
    with write_unit():
        query = (
            select(OutboxMessage.id)
            .where(_due(now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if kinds:
            query = query.where(OutboxMessage.kind.in_(list(kinds)))
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(db.session.scalars(query))
        if ids:
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(lease_until=now + lease_for(), claimed_by=worker, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    return ids


def start(message_id: int, worker: str) -> Job | None:
    """Renew the claim for this one delivery and count it; the job, or None if not ours now.

    Another worker took it over (our lease ran out while the batch waited), or an operator
    changed it: the message is left alone.
    """
    now = utcnow()
    with write_unit():
        message = db.session.get(OutboxMessage, message_id, populate_existing=True)
        if message is None or message.status != PENDING or message.claimed_by != worker:
            return None
        changed = db.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.claimed_by == worker,
                OutboxMessage.status == PENDING,
                OutboxMessage.lease_until.is_not(None),
            )
            .values(
                lease_until=now + lease_for(message.kind),
                attempts=OutboxMessage.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            return None
        job = Job(
            id=message.id,
            uid=message.uid,
            tenant=message.tenant,
            kind=message.kind,
            topic=message.topic,
            destination=message.destination,
            payload=json.loads(message.payload),
            number=message.attempts + 1,
            failures=message.failures,
            created_at=as_utc(message.created_at),
            subject_type=message.subject_type,
            subject_id=message.subject_id,
        )
    return job


def release(message_ids: Iterable[int], worker: str) -> int:
    """Give back claimed messages not started (a worker stopping): others may take them now."""
    ids = list(message_ids)
    if not ids:
        return 0
    with write_unit():
        return db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == worker)
            .values(lease_until=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount


def record(
    job: Job, worker: str, outcome: Outcome, started_at: dt.datetime, duration_ms: int
) -> str:
    """Write the delivery and move the message on; the message's status afterwards.

    A success always marks the message delivered. A failure reschedules it by the kind's
    schedule only while this worker still holds it (a worker that lost its lease leaves the
    message to the one that took it over); when the schedule runs out, or the failure is final,
    the message is failed (or disabled) and the handler's ``on_final_failure`` runs in the
    same write unit.
    """
    now = utcnow()
    handler = registry.handler_for(job.kind)
    next_at = None
    with write_unit():
        message = db.session.get(OutboxMessage, job.id, populate_existing=True)
        ours = message is not None and message.claimed_by == worker and message.status == PENDING
        values: dict[str, Any] = {"updated_at": now}
        if outcome.ok:
            status = DELIVERED
            values.update(
                status=DELIVERED, delivered_at=now, lease_until=None, last_error=None, failures=0
            )
        elif ours:
            failures = job.failures + 1
            delay = None if outcome.final else retry_delay(job.kind, failures, outcome.retry_after)
            values.update(failures=failures, lease_until=None, last_error=_short(outcome.error))
            if delay is None:
                status = outcome.status if outcome.status in (FAILED, DISABLED) else FAILED
                values["status"] = status
            else:
                status = PENDING
                next_at = now + dt.timedelta(seconds=delay)
                values["next_attempt_at"] = next_at
        else:
            status = message.status if message is not None else FAILED
        db.session.add(
            OutboxDelivery(
                message_id=job.id,
                tenant=job.tenant,
                number=job.number,
                worker=worker[:80],
                started_at=started_at,
                duration_ms=duration_ms,
                ok=outcome.ok,
                status_code=outcome.status_code,
                error=_short(outcome.error),
                next_attempt_at=next_at,
            )
        )
        if message is not None and (outcome.ok or ours):
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == job.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if ours and status in (FAILED, DISABLED) and handler and handler.on_final_failure:
            handler.on_final_failure(job, outcome)
    if outcome.ok:
        log.info("outbox %s %s (%s) delivered [%s]", job.kind, job.id, job.topic, job.uid)
    elif status == PENDING:
        log.warning(
            "outbox %s %s (%s) not sent (attempt %s): %s; next attempt at %s",
            job.kind,
            job.id,
            job.topic,
            job.number,
            outcome.error,
            next_at.isoformat(timespec="seconds") if next_at else "-",
        )
    else:
        log.error(
            "outbox %s %s (%s) not sent, %s after %s attempts: %s",
            job.kind,
            job.id,
            job.topic,
            status,
            job.number,
            outcome.error,
        )
    return status


def _short(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text[:255]


# --- operator actions and queries -------------------------------------------------------------


def retry(message_id: int, *, tenant: str | None = None) -> OutboxMessage | None:
    """Send a message again now (whatever its status); None when there is no such message.

    ``tenant`` scopes the look-up (staff pages pass theirs). A delivered message goes out again
    with the same identity, so the receiver can tell it is a repeat.
    """
    now = utcnow()
    with write_unit():
        query = select(OutboxMessage).where(OutboxMessage.id == message_id)
        if tenant is not None:
            query = query.where(OutboxMessage.tenant == tenant)
        message = db.session.scalar(query)
        if message is None:
            return None
        message.status = PENDING
        message.failures = 0
        message.next_attempt_at = now
        message.lease_until = None
        message.updated_at = now
    return message


def revive_failed(uid: str) -> bool:
    """A failed-for-good message of this ``uid`` made due again, now (its own write unit): True
    when there was one. A copy of it arriving later is a reason to try it once more."""
    now = utcnow()
    with write_unit():
        revived = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.uid == uid, OutboxMessage.status == FAILED)
            .values(status=PENDING, failures=0, next_attempt_at=now, lease_until=None)
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    return revived == 1


def get_message(message_id: int, *, tenant: str | None = None) -> OutboxMessage | None:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .options(selectinload(OutboxMessage.deliveries))
    )
    if tenant is not None:
        query = query.where(OutboxMessage.tenant == tenant)
    return db.session.scalar(query)


def list_messages(
    *,
    tenant: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> list[OutboxMessage]:
    """The newest messages first (with their deliveries), filtered."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    query = select(OutboxMessage).options(selectinload(OutboxMessage.deliveries))
    if tenant is not None:
        query = query.where(OutboxMessage.tenant == tenant)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    return list(db.session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)))


def messages_for(tenant: str, subject_type: str, subject_id: int) -> list[OutboxMessage]:
    """Every message about one thing (e.g. a payment attempt), oldest first, with deliveries."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.tenant == tenant,
                OutboxMessage.subject_type == subject_type,
                OutboxMessage.subject_id == subject_id,
            )
            .options(selectinload(OutboxMessage.deliveries))
            .order_by(OutboxMessage.id)
        )
    )


def due_count(kinds: Sequence[str] | None = None) -> int:
    from sqlalchemy import func

    query = select(func.count()).select_from(OutboxMessage).where(_due(utcnow()))
    if kinds:
        query = query.where(OutboxMessage.kind.in_(list(kinds)))
    return int(db.session.scalar(query) or 0)
