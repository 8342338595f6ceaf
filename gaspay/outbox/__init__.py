"""The transactional outbox: every side effect outside the database, delivered at least once.

A message (an e-mail, a webhook, a background job such as a bill import) is written with
``enqueue`` in the same write unit as the change that causes it, and delivered after the
commit by the worker (``flask --app gaspay worker``), which also runs the reconciliation job.

The API other features use (a contract):

- ``enqueue(kind, payload, *, tenant, topic="", destination="", subject=None,
  not_before=None, uid=None) -> OutboxMessage`` — inside the caller's write unit; never
  commits, never sends; raises ``NotInTransaction`` outside one.
- ``register_handler(kind, deliver, *, retry_schedule=None, lease_seconds=None,
  on_final_failure=None)`` — ``deliver(job: Job) -> Outcome | None``, called by the worker in
  an app context with no transaction open.
- ``retry(message_id, *, tenant=None)``, ``get_message(message_id, *, tenant=None)``,
  ``list_messages(*, tenant=None, status=None, kind=None, limit=50)``,
  ``messages_for(tenant, subject_type, subject_id)`` — for the CLI and staff pages.
- ``tell_support(tenant, subject, text, *, topic, about=None)`` — in the caller's write unit: a
  plain-text e-mail to the company's support address.
- ``run_pending(kinds=None, *, timeout=10.0)`` — deliver what is due now (tests, CLI).

Configuration (``GASPAY_`` + name): ``WORKER_POLL_SECONDS`` (2), ``WORKER_RECONCILE_SECONDS``
(60; 0 turns the job off in the worker), ``OUTBOX_BATCH`` (10), ``OUTBOX_LEASE_SECONDS`` (120),
``OUTBOX_RETRY_SCHEDULE`` (``5,300,1800,7200,18000,36000,50400,72000,86400`` seconds),
``OUTBOX_RETRY_JITTER`` (0.1), ``WEBHOOK_TIMEOUT_SECONDS`` (15).
"""

from __future__ import annotations

from flask import Flask

from gaspay.outbox.models import (
    DELIVERED,
    DISABLED,
    FAILED,
    PENDING,
    STATUS_WORDS,
    STATUSES,
    DisabledEndpoint,
    OutboxDelivery,
    OutboxMessage,
)
from gaspay.outbox.queue import (
    NotInTransaction,
    enqueue,
    get_message,
    list_messages,
    messages_for,
    retry,
    revive_failed,
    tell_support,
)
from gaspay.outbox.registry import (
    DEFAULT_SCHEDULE,
    Job,
    Outcome,
    handler_for,
    register_handler,
    unregister_handler,
)
from gaspay.outbox.worker import Worker, run_pending

__all__ = [
    "DEFAULT_SCHEDULE",
    "DELIVERED",
    "DISABLED",
    "FAILED",
    "PENDING",
    "STATUSES",
    "STATUS_WORDS",
    "DisabledEndpoint",
    "Job",
    "NotInTransaction",
    "OutboxDelivery",
    "OutboxMessage",
    "Outcome",
    "Worker",
    "enqueue",
    "get_message",
    "handler_for",
    "init_app",
    "list_messages",
    "messages_for",
    "register_handler",
    "retry",
    "revive_failed",
    "run_pending",
    "tell_support",
    "unregister_handler",
]

DEFAULTS = {
    "WORKER_POLL_SECONDS": 2.0,
    "WORKER_RECONCILE_SECONDS": 60.0,
    "OUTBOX_BATCH": 10,
    "OUTBOX_LEASE_SECONDS": 120.0,
    "OUTBOX_RETRY_JITTER": 0.1,
    "WEBHOOK_TIMEOUT_SECONDS": 15.0,
}


def init_app(app: Flask) -> None:
    """Defaults, and the built-in kinds: ``email`` and ``webhook``."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    from gaspay.outbox import mail, receipts, webhooks

    register_handler("email", mail.deliver_email)
    register_handler(
        "webhook",
        webhooks.deliver_webhook,
        on_final_failure=webhooks.on_final_failure,
    )
    receipts.register()
