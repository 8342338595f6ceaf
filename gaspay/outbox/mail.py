"""E-mail out of the outbox: SMTP when ``MAIL_SERVER`` is set, else a ``.eml`` file.

Settings (``GASPAY_`` + name in the environment): ``MAIL_SERVER``, ``MAIL_PORT``,
``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_USE_TLS`` (STARTTLS, default on),
``MAIL_USE_SSL`` (implicit TLS, port 465), ``MAIL_FROM``; ``MAIL_DIR`` for the files
(``instance/mail/``, listed at ``/sandbox/correos`` in development).

An ``email`` message's payload is either written out (``to``, ``subject``, ``text``, optional
``html``) or names a renderer (``render``: e.g. ``payment_receipt``) that builds it at delivery
from the database — a receipt's PDF is made by the worker, never in the request. Its
``Message-ID`` comes from the message's uid: every retry carries the same one, and a file
written again replaces the first.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path

from flask import current_app

from gaspay.outbox.registry import Job, Outcome
from gaspay.timeutil import utcnow

TIMEOUT_SECONDS = 10
DEFAULT_FROM = "no-responder@localhost"
log = logging.getLogger(__name__)


class MailError(RuntimeError):
    """The message could not be handed over to the mail server."""


@dataclass
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


@dataclass
class RenderedMail:
    subject: str
    text: str
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    sender_name: str | None = None  # shown as the From display name (the company)
    reply_to: str | None = None


#: Renderers by name: ``render(job) -> RenderedMail`` (they may read the database).
RENDERERS: dict[str, Callable[[Job], RenderedMail]] = {}


def register_renderer(name: str, render: Callable[[Job], RenderedMail]) -> None:
    RENDERERS[name] = render


def _flag(value, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "si", "sí")
    return bool(value)


def sender_address() -> str:
    return str(current_app.config.get("MAIL_FROM") or DEFAULT_FROM)


def message_id_for(uid: str) -> str:
    """``<msg_…@domain>``: the same for every delivery of one outbox message."""
    domain = parseaddr(sender_address())[1].rpartition("@")[2] or "gaspay.local"
    return f"<{uid}@{domain}>"


def build_message(job: Job, mail: RenderedMail, to: str) -> EmailMessage:
    message = EmailMessage()
    sender = sender_address()
    if mail.sender_name:
        message["From"] = formataddr((mail.sender_name, parseaddr(sender)[1] or DEFAULT_FROM))
    else:
        message["From"] = sender
    message["To"] = to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id_for(job.uid)
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    for item in mail.attachments:
        message.add_attachment(
            item.content, maintype=item.maintype, subtype=item.subtype, filename=item.filename
        )
    return message


def render(job: Job) -> tuple[str, RenderedMail]:
    payload = job.payload
    to = str(payload["to"])
    name = payload.get("render")
    if name:
        renderer = RENDERERS.get(name)
        if renderer is None:
            raise LookupError(f"no e-mail renderer {name!r}")
        return to, renderer(job)
    return to, RenderedMail(
        subject=str(payload["subject"]),
        text=str(payload["text"]),
        html=payload.get("html"),
        sender_name=payload.get("sender_name"),
        reply_to=payload.get("reply_to"),
    )


# --- transports -------------------------------------------------------------------------------


def smtp_send(message: EmailMessage) -> None:
    config = current_app.config
    use_ssl = _flag(config.get("MAIL_USE_SSL"), False)
    use_tls = not use_ssl and _flag(config.get("MAIL_USE_TLS"), True)
    port = int(config.get("MAIL_PORT") or (465 if use_ssl else 587 if use_tls else 25))
    host = str(config["MAIL_SERVER"])
    context = ssl.create_default_context()
    if use_ssl:
        smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
    with smtp:
        if use_tls:
            smtp.starttls(context=context)
        if config.get("MAIL_USERNAME"):
            smtp.login(str(config["MAIL_USERNAME"]), str(config.get("MAIL_PASSWORD") or ""))
        smtp.send_message(message)


def mail_dir() -> Path:
    return Path(current_app.config["MAIL_DIR"])


def write_file(message: EmailMessage, uid: str) -> Path:
    """``instance/mail/<time>-<uid>.eml``; a repeat of the same message replaces its file."""
    directory = mail_dir()
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(directory.glob(f"*-{uid}.eml"))
    path = existing[0] if existing else directory / f"{utcnow():%Y%m%dT%H%M%S}-{uid}.eml"
    # The file may hold a password-reset link: readable by its owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(bytes(message))
    os.chmod(path, 0o600)
    return path


def _refused_for_good(exc: smtplib.SMTPRecipientsRefused) -> int | None:
    """The reply code when every recipient was refused permanently (5xx): a bad address."""
    codes = [code for code, _text in exc.recipients.values()]
    return min(codes) if codes and all(code >= 500 for code in codes) else None


def deliver_email(job: Job) -> Outcome:
    """The ``email`` handler: render, then hand over by SMTP (or write the file)."""
    to, mail = render(job)
    try:
        Address(addr_spec=to)
    except (ValueError, IndexError) as exc:
        return Outcome(ok=False, final=True, error=f"invalid address: {exc}")
    message = build_message(job, mail, to)
    _end_reads()
    if not current_app.config.get("MAIL_SERVER"):
        path = write_file(message, job.uid)
        log.info("mail not sent (no MAIL_SERVER): written to %s", path)
        return Outcome()
    try:
        smtp_send(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code = _refused_for_good(exc)
        if code is not None:
            return Outcome(ok=False, final=True, status_code=code, error="recipient refused")
        return Outcome(ok=False, error="recipient refused for now")
    except smtplib.SMTPResponseException as exc:
        return Outcome(
            ok=False,
            status_code=exc.smtp_code,
            error=f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}",
        )
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(ok=False, error=f"SMTP delivery failed: {type(exc).__name__}: {exc}")
    return Outcome(status_code=250)


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)[:120]


def _end_reads() -> None:
    from gaspay.extensions import db

    session = db.session()
    if session.in_transaction():
        session.commit()
