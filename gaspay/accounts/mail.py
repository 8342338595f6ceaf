"""The customer area's e-mail (password reset), sent through the outbox.

``queue_mail`` adds the message to the caller's write unit; the worker delivers it after the
commit (SMTP, or a ``.eml`` file in development: see ``gaspay.outbox.mail`` for the
``MAIL_*`` settings). Nothing is sent from the request, so a reset answer takes as long
whether or not a message goes out, however slow the mail server is.
"""

from __future__ import annotations

import smtplib  # the outbox's SMTP transport uses this module (tests replace smtplib.SMTP)

from gaspay.outbox import enqueue, run_pending
from gaspay.outbox.mail import TIMEOUT_SECONDS, MailError

__all__ = ["TIMEOUT_SECONDS", "MailError", "queue_mail", "smtplib", "wait_for_mail"]


def queue_mail(to: str, subject: str, body: str, *, tenant: str | None, topic: str) -> None:
    """One plain-text e-mail, inside the caller's write unit (it commits with it)."""
    enqueue(
        "email",
        {"to": to, "subject": subject, "text": body},
        tenant=tenant,
        topic=topic,
        destination=to,
    )


def wait_for_mail(timeout: float = 10.0) -> bool:
    """Deliver the e-mails already due, now (tests; the worker does it in production); True
    when none is left due (a failed one is rescheduled, not waited for)."""
    return run_pending(("email",), timeout=timeout)
