"""The worker: delivers the outbox and runs the reconciliation job on its schedule.

``flask --app gaspay worker`` polls every ``WORKER_POLL_SECONDS`` (2 s): it claims a batch of
due messages (``queue.claim``), then delivers them one by one, each with its claim renewed
(``queue.start``), no database transaction open while the handler talks to the network, and
the delivery recorded afterwards (``queue.record``). Every ``WORKER_RECONCILE_SECONDS`` (60 s)
it runs ``payments.reconcile.reconcile_due``. SIGTERM or Ctrl-C: the message in hand is
finished and recorded, the rest of the batch is given back, and the worker exits. A worker
killed outright leaves its batch claimed until the lease runs out; then another takes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask import Flask, current_app, has_app_context
from sqlalchemy.exc import DBAPIError

from gaspay.extensions import db
from gaspay.outbox import queue, registry
from gaspay.outbox.models import DELIVERED, PENDING
from gaspay.outbox.registry import Outcome
from gaspay.timeutil import utcnow

log = logging.getLogger(__name__)
DEFAULT_POLL_SECONDS = 2.0
DEFAULT_RECONCILE_SECONDS = 60.0
DEFAULT_BATCH = 10
MAX_BATCHES_PER_PASS = 100


def error_text(exc: Exception) -> str:
    """What a delivery keeps of a handler's exception: a database error by its kinds alone.

    A database's message quotes the row it refused (PostgreSQL's ``DETAIL: Failing row
    contains (...)``, ``Key (email)=(...)``): a payer's data, which the delivery and the
    message's ``last_error`` must not copy. The log keeps the whole error for the operator.
    """
    if isinstance(exc, DBAPIError):
        return f"{type(exc).__name__} ({type(exc.orig).__name__}): see the worker's log"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class PassReport:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that failed (rescheduled or given up)
    skipped: int = 0  # claimed, then found taken over or changed
    reconciled: object | None = None
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"claimed={self.claimed} delivered={self.delivered} failed={self.failed} "
            f"skipped={self.skipped}"
        )
        if self.reconciled is not None:
            r = self.reconciled
            text += f" reconcile: due={r.due} transitions={r.transitions} expired={r.expired}"
        return text


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """One worker process (or thread: each has its own app context and session)."""

    def __init__(
        self,
        app: Flask,
        *,
        name: str | None = None,
        kinds: Sequence[str] | None = None,
        batch: int | None = None,
        poll_seconds: float | None = None,
        reconcile_seconds: float | None = None,
    ):
        config = app.config
        self.app = app
        self.name = name or worker_name()
        self.kinds = tuple(kinds) if kinds else None
        self.batch = int(batch or config.get("OUTBOX_BATCH") or DEFAULT_BATCH)
        self.poll_seconds = float(
            poll_seconds
            if poll_seconds is not None
            else config.get("WORKER_POLL_SECONDS", DEFAULT_POLL_SECONDS)
        )
        self.reconcile_seconds = float(
            reconcile_seconds
            if reconcile_seconds is not None
            else config.get("WORKER_RECONCILE_SECONDS", DEFAULT_RECONCILE_SECONDS)
        )
        self.stopping = threading.Event()
        self._next_reconcile = 0.0

    # --- control ------------------------------------------------------------------------------

    def stop(self, *_args) -> None:
        if not self.stopping.is_set():
            log.info("worker %s stopping after the message in hand", self.name)
        self.stopping.set()

    def _context(self):
        if has_app_context() and current_app._get_current_object() is self.app:
            return contextlib.nullcontext()
        return self.app.app_context()

    # --- delivering ---------------------------------------------------------------------------

    def deliver_batch(self, report: PassReport | None = None) -> int:
        """Claim one batch and deliver it; how many messages were claimed."""
        report = report if report is not None else PassReport()
        with self._context():
            ids = queue.claim(self.name, limit=self.batch, kinds=self.kinds)
            report.claimed += len(ids)
            left = list(ids)
            try:
                for message_id in ids:
                    if self.stopping.is_set():
                        break
                    left.remove(message_id)
                    self._deliver_one(message_id, report)
            finally:
                if left:
                    queue.release(left, self.name)
        return len(ids)

    def _deliver_one(self, message_id: int, report: PassReport) -> None:
        job = queue.start(message_id, self.name)
        if job is None:
            report.skipped += 1
            return
        handler = registry.handler_for(job.kind)
        _end_reads()
        started_at = utcnow()
        began = time.monotonic()
        if handler is None:
            outcome = Outcome(ok=False, error=f"no handler registered for kind {job.kind!r}")
        else:
            try:
                outcome = handler.deliver(job) or Outcome()
            except Exception as exc:  # a handler's bug must not stop the worker
                log.exception("outbox %s %s: handler raised", job.kind, job.id)
                db.session.rollback()
                outcome = Outcome(ok=False, error=error_text(exc))
        duration_ms = int((time.monotonic() - began) * 1000)
        _end_reads()
        status = queue.record(job, self.name, outcome, started_at, duration_ms)
        if status == DELIVERED:
            report.delivered += 1
        else:
            report.failed += 1
            if status != PENDING:
                report.errors.append(f"{job.id}: {outcome.error}")

    # --- the reconciliation job ---------------------------------------------------------------

    def reconcile_if_due(self, report: PassReport, *, force: bool = False) -> None:
        if self.reconcile_seconds <= 0 and not force:
            return
        now = time.monotonic()
        if not force and now < self._next_reconcile:
            return
        self._next_reconcile = now + max(self.reconcile_seconds, 1.0)
        from gaspay.payments.reconcile import reconcile_due

        with self._context():
            try:
                report.reconciled = reconcile_due(self.app.extensions["gaspay.tenants"])
            except Exception as exc:  # the job failing must not stop the deliveries
                log.exception("reconciliation job failed")
                db.session.rollback()
                report.errors.append(f"reconcile: {type(exc).__name__}")

    # --- passes and the loop ------------------------------------------------------------------

    def run_once(self, *, reconcile: bool = True, deadline: float | None = None) -> PassReport:
        """One pass: the reconciliation job if due, then batches until nothing is due."""
        report = PassReport()
        if reconcile:
            self.reconcile_if_due(report)
        for _ in range(MAX_BATCHES_PER_PASS):
            if self.stopping.is_set() or (deadline is not None and time.monotonic() > deadline):
                break
            if self.deliver_batch(report) < self.batch:
                break
        return report

    def run(self) -> None:
        """Until SIGTERM/SIGINT (or ``stop()``): passes, then a short sleep when idle."""
        self._install_signals()
        log.info(
            "worker %s started: poll %.1f s, reconcile every %s",
            self.name,
            self.poll_seconds,
            f"{self.reconcile_seconds:.0f} s" if self.reconcile_seconds > 0 else "never",
        )
        while not self.stopping.is_set():
            try:
                report = self.run_once()
            except Exception:  # the database away for a moment: log, wait, try again
                log.exception("worker pass failed")
                with self._context():
                    db.session.rollback()
                report = PassReport()
            if report.claimed < self.batch:
                self.stopping.wait(self.poll_seconds)
        with self._context():
            db.session.remove()
        log.info("worker %s stopped", self.name)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum, _frame):
            if self.stopping.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now
            self.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)


def _end_reads() -> None:
    """No transaction stays open across a delivery (the handler may call the network)."""
    session = db.session()
    if session.in_transaction():
        session.commit()


def run_pending(
    kinds: Sequence[str] | None = None, *, timeout: float = 10.0, app: Flask | None = None
) -> bool:
    """Deliver, here and now, the messages already due (tests, and the CLI); True when none of
    them is left due. Messages rescheduled into the future by a failure are not waited for."""
    app = app or current_app._get_current_object()
    worker = Worker(app, kinds=kinds, reconcile_seconds=0)
    deadline = time.monotonic() + timeout
    with worker._context():
        while time.monotonic() < deadline:
            report = worker.run_once(reconcile=False, deadline=deadline)
            if report.claimed == 0:
                break
        return queue.due_count(kinds) == 0
