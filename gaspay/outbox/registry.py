"""Handlers by message kind: what the worker calls to deliver a message, and how it retries.

A feature registers its kind once, when the app is built (anything ``create_app`` runs)::

    from gaspay.outbox import Job, Outcome, register_handler

    def run_bill_import(job: Job) -> Outcome | None:
        run_import(job.tenant, job.payload["import_id"])   # opens its own transactions

    register_handler("bill_import", run_bill_import, retry_schedule=(), lease_seconds=3600)

The worker calls ``deliver(job)`` inside an app context with no database transaction open.
Returning None (or ``Outcome(ok=True)``) marks the message delivered; a failed ``Outcome`` or
an exception is a failure, retried by the schedule; ``Outcome(final=True)`` stops retrying.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The retry schedule of outbound-webhooks.md (seconds after each failure), used by every kind
#: that names none; ``OUTBOX_RETRY_SCHEDULE`` replaces it (tests use a fast one).
DEFAULT_SCHEDULE: tuple[float, ...] = (
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    24 * 3600,
)


@dataclass(frozen=True)
class Job:
    """A claimed message, detached from the database: what a handler gets."""

    id: int
    uid: str  # stable across retries: Message-ID, webhook-id
    tenant: str | None
    kind: str
    topic: str
    destination: str
    payload: dict[str, Any]
    number: int  # this delivery's number (1 = first attempt)
    failures: int  # failed attempts in a row before this one
    created_at: dt.datetime
    subject_type: str | None = None
    subject_id: int | None = None


@dataclass
class Outcome:
    """What one delivery attempt gave."""

    ok: bool = True
    status_code: int | None = None  # HTTP status or SMTP reply code, when there was one
    error: str | None = None  # short, for the operator (never a secret)
    retry_after: float | None = None  # seconds the other side asked us to wait (429/503)
    final: bool = False  # a failure not worth retrying
    status: str | None = None  # the message's status on a final failure: failed or disabled
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Handler:
    kind: str
    deliver: Callable[[Job], Outcome | None]
    retry_schedule: tuple[float, ...] | None = None  # None: the configured default
    lease_seconds: float | None = None  # None: OUTBOX_LEASE_SECONDS
    # Called inside the write unit that records a final failure (gave up, refused, disabled):
    # it may write rows and enqueue messages (e.g. tell the company's staff).
    on_final_failure: Callable[[Job, Outcome], None] | None = None


_HANDLERS: dict[str, Handler] = {}


def register_handler(
    kind: str,
    deliver: Callable[[Job], Outcome | None],
    *,
    retry_schedule: Sequence[float] | None = None,
    lease_seconds: float | None = None,
    on_final_failure: Callable[[Job, Outcome], None] | None = None,
) -> Handler:
    """Register (or replace) the handler of ``kind``; returns it.

    ``retry_schedule``: seconds to wait after the 1st, 2nd… failure; when it runs out the
    message is ``failed``; ``()`` means no retry. ``lease_seconds``: how long a worker keeps a
    claimed message before another may take it (longer than one delivery can take).
    """
    if not kind or len(kind) > 20:
        raise ValueError("a message kind is 1-20 characters")
    handler = Handler(
        kind=kind,
        deliver=deliver,
        retry_schedule=None if retry_schedule is None else tuple(float(s) for s in retry_schedule),
        lease_seconds=lease_seconds,
        on_final_failure=on_final_failure,
    )
    _HANDLERS[kind] = handler
    return handler


def unregister_handler(kind: str) -> None:
    _HANDLERS.pop(kind, None)


def handler_for(kind: str) -> Handler | None:
    return _HANDLERS.get(kind)


def kinds() -> tuple[str, ...]:
    return tuple(sorted(_HANDLERS))
