"""The payer's e-mails about a payment, rendered by the worker when it delivers them.

``payment_receipt``: approved — HTML and text in es-CO with the company's name and colour,
every field of the on-screen receipt (the same ``payments/_receipt_facts.html``), the bills,
the link to the receipt with the mailbox capability, and the receipt PDF attached.
``payment_not_approved``: declined or failed at the gateway — a short note and the way to try
again (the same link: the receipt page offers "Reintentar" to the payer's mailbox).
"""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gaspay.extensions import db
from gaspay.outbox.mail import Attachment, RenderedMail, register_renderer
from gaspay.outbox.pdf import receipt_filename, receipt_pdf
from gaspay.outbox.registry import Job
from gaspay.payments.access import mail_link
from gaspay.payments.models import AttemptBill, PaymentAttempt
from gaspay.payments.receipts import receipt_context


class RenderError(LookupError):
    """The message's payment or company no longer exists (a failure, retried, then failed)."""


def _load(job: Job):
    tenant = current_app.extensions["gaspay.tenants"].get(job.tenant or "")
    if tenant is None:
        raise RenderError(f"tenant {job.tenant!r} is not configured")
    attempt = db.session.scalar(
        select(PaymentAttempt)
        .where(
            PaymentAttempt.tenant == tenant.slug,
            PaymentAttempt.id == int(job.payload["attempt_id"]),
        )
        .options(selectinload(PaymentAttempt.bills).joinedload(AttemptBill.bill))
    )
    if attempt is None:
        raise RenderError(f"payment {job.payload['attempt_id']} not found")
    return tenant, attempt


def _link(tenant, attempt, base_url: str | None) -> str | None:
    """The receipt's address with the mailbox capability, from ``PUBLIC_URL`` (or
    ``SERVER_NAME``, or the host of the request that caused the mail, when trusted); None in
    production when none is known: the mail then goes without a link rather than a wrong one."""
    config = current_app.config
    if base_url is None and config.get("SANDBOX") and not config.get("SERVER_NAME"):
        base_url = config.get("SANDBOX_BASE_URL")
    if (
        base_url is None
        and config.get("PRODUCTION")
        and not (config.get("PUBLIC_URL") or config.get("SERVER_NAME"))
    ):
        return None
    kwargs = {"base_url": base_url} if base_url else {}
    with current_app.test_request_context("/", **kwargs):
        return mail_link(tenant, attempt)


def _context(job: Job):
    tenant, attempt = _load(job)
    context = {
        **receipt_context(attempt, full=True),
        "tenant": tenant,
        "bills": list(attempt.bills),
        "link": _link(tenant, attempt, job.payload.get("base_url")),
    }
    return tenant, attempt, context


def render_receipt(job: Job) -> RenderedMail:
    tenant, attempt, context = _context(job)
    subject = f"{tenant.name}: comprobante de su pago {attempt.reference}"
    return RenderedMail(
        subject=subject,
        text=render_template("outbox/mail/receipt.txt", **context),
        html=render_template("outbox/mail/receipt.html", subject=subject, **context),
        attachments=[Attachment(receipt_filename(attempt), receipt_pdf(tenant, attempt))],
        sender_name=tenant.name,
        reply_to=tenant.support_email,
    )


def render_not_approved(job: Job) -> RenderedMail:
    tenant, attempt, context = _context(job)
    subject = f"{tenant.name}: su pago {attempt.reference} no fue aprobado"
    return RenderedMail(
        subject=subject,
        text=render_template("outbox/mail/not_approved.txt", **context),
        html=render_template("outbox/mail/not_approved.html", subject=subject, **context),
        sender_name=tenant.name,
        reply_to=tenant.support_email,
    )


def register() -> None:
    register_renderer("payment_receipt", render_receipt)
    register_renderer("payment_not_approved", render_not_approved)
