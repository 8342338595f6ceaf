"""The gateways' inbox: a verified notification is stored in one short write, applied later.

The webhook verifies the notification (the adapter, before anything is read from it), then
``receive`` stores it as one outbox message of kind ``gateway_event`` whose ``uid`` is derived
from (tenant, provider, event key): a second copy of the same event fails on that unique key
and is answered "duplicate" without a second row. The worker applies each stored event with
``events.apply_notice`` — the same code, the same audit row — and retries it by the outbox's
schedule when the gateway could not be queried about a hint (PlacetoPay never re-sends one),
or when the worker does not know the tenant yet (its configuration is older than the web
servers'). One that fails for good is logged and told to the company's support address.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging

from flask import current_app, render_template
from sqlalchemy.exc import IntegrityError

from gaspay.db import write_unit
from gaspay.outbox import Job, Outcome, enqueue, register_handler, revive_failed, tell_support
from gaspay.payments.events import apply_notice
from gaspay.payments.gateway import GatewayAnswer, Notice
from gaspay.tenancy.config import Tenant

log = logging.getLogger(__name__)
KIND = "gateway_event"
QUEUED, DUPLICATE = "queued", "duplicate"


def event_uid(tenant: str, provider: str, event_key: str) -> str:
    """The message's unique id: one stored copy per (tenant, provider, event key)."""
    digest = hashlib.sha256(f"{tenant}\0{provider}\0{event_key}".encode()).hexdigest()
    return "evt_" + digest[:36]


def receive(tenant: Tenant, provider: str, notice: Notice) -> str:
    """Store one verified notification for the worker: "queued", or "duplicate" for a copy.

    A copy of an event whose stored one failed for good (the worker gave up on it) makes that
    one due again, "queued": the gateway sending it again is a reason to try once more.
    """
    # Field by field: asdict would copy the event's own JSON recursively (a deep one overflows).
    fields = {f.name: getattr(notice, f.name) for f in dataclasses.fields(notice)}
    fields["answer"] = dataclasses.asdict(notice.answer) if notice.answer else None
    payload = {"provider": provider, "notice": fields}
    uid = event_uid(tenant.slug, provider, notice.key)
    try:
        with write_unit():
            enqueue(KIND, payload, tenant=tenant.slug, topic=f"{provider}.event", uid=uid)
    except IntegrityError:
        if revive_failed(uid):
            log.warning("%s event for %s: a copy of a failed one, due again", provider, tenant.slug)
            return QUEUED
        log.info("%s event for %s: duplicate", provider, tenant.slug)
        return DUPLICATE
    return QUEUED


def _notice(data: dict) -> Notice:
    answer = data.get("answer")
    fields = {**data, "answer": GatewayAnswer(**answer) if answer else None}
    return Notice(**fields)


def apply_stored(job: Job) -> Outcome | None:
    """The worker's handler: apply one stored event; a failed query is retried later."""
    tenant = current_app.extensions["gaspay.tenants"].get(job.tenant or "")
    if tenant is None:  # retried: a worker started before the tenant was added knows it later
        return Outcome(ok=False, error=f"tenant {job.tenant!r} is not configured")
    notice = _notice(job.payload["notice"])
    outcome = apply_notice(tenant, job.payload["provider"], notice)
    if outcome == "unavailable":
        return Outcome(ok=False, error="the gateway could not be queried about the event")
    return None


def on_final_failure(job: Job, outcome: Outcome) -> None:
    """Inside the write unit recording it: the operator's log, and the company's staff told."""
    notice = job.payload["notice"]
    log.error(
        "stored %s event %s for %s not applied after %s attempts (message %s): %s",
        job.payload["provider"],
        notice.get("txn_id"),
        job.tenant,
        job.number,
        job.id,
        outcome.error,
    )
    tenant = current_app.extensions["gaspay.tenants"].get(job.tenant or "")
    if tenant is None or not tenant.support_email:
        return
    text = render_template(
        "payments/event_trouble.txt",
        tenant=tenant,
        provider={"wompi": "Wompi", "placetopay": "PlacetoPay"}.get(job.payload["provider"]),
        reference=notice.get("reference"),
        txn_id=notice.get("txn_id"),
        attempts=job.number,
        error=outcome.error,
        message_id=job.id,
    )
    tell_support(
        tenant,
        f"{tenant.name}: un aviso de la pasarela no se pudo aplicar",
        text,
        topic="event_trouble",
    )


def register_jobs() -> None:
    register_handler(KIND, apply_stored, on_final_failure=on_final_failure)
