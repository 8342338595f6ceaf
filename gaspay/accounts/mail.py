"""Sending e-mail: SMTP when ``MAIL_SERVER`` is configured, else a ``.eml`` file for developers.

Settings (``GASPAY_`` + name in the environment): ``MAIL_SERVER``, ``MAIL_PORT``,
``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_USE_TLS`` (STARTTLS, default on),
``MAIL_USE_SSL`` (implicit TLS, port 465), ``MAIL_FROM``; ``MAIL_DIR`` for the files.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app

from gaspay.timeutil import utcnow

TIMEOUT_SECONDS = 10
log = logging.getLogger(__name__)
_in_flight: set[threading.Thread] = set()
_in_flight_lock = threading.Lock()
DEFAULT_FROM = "no-responder@localhost"


class MailError(RuntimeError):
    """The message could not be handed over; the caller logs it."""


def _flag(value, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "si", "sí")
    return bool(value)


def build_message(to: str, subject: str, body: str, sender: str | None = None) -> EmailMessage:
    config = current_app.config
    message = EmailMessage()
    message["From"] = sender or config.get("MAIL_FROM") or DEFAULT_FROM
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="gaspay")
    message.set_content(body)
    return message


def _smtp_send(message: EmailMessage) -> None:
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


def _write_file(message: EmailMessage) -> Path:
    directory = Path(current_app.config["MAIL_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{utcnow():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.eml"
    # The file may hold a password-reset link: readable by its owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(bytes(message))
    return path


def send_mail(to: str, subject: str, body: str) -> Path | None:
    """Send one plain-text message; in development, the path of the file written instead.

    Raises MailError when the SMTP server cannot take it.
    """
    message = build_message(to, subject, body)
    if not current_app.config.get("MAIL_SERVER"):
        path = _write_file(message)
        current_app.logger.info("mail not sent (no MAIL_SERVER): written to %s", path)
        return path
    try:
        _smtp_send(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"SMTP delivery failed: {type(exc).__name__}") from exc
    return None


def send_mail_soon(to: str, subject: str, body: str, what: str) -> None:
    """Like send_mail, but an SMTP delivery happens after the request has been answered.

    The answer then takes as long whether or not a message goes out (no account enumeration by
    timing), and a slow mail server does not hold the payer. Failures are logged as ``what``.
    """
    app = current_app._get_current_object()
    if not app.config.get("MAIL_SERVER"):
        _deliver(app, to, subject, body, what)  # a local file: nothing slow to wait for
        return
    thread = threading.Thread(
        target=_deliver, args=(app, to, subject, body, what), name="gaspay-mail", daemon=True
    )
    with _in_flight_lock:
        _in_flight.add(thread)
    thread.start()


def _deliver(app, to: str, subject: str, body: str, what: str) -> None:
    try:
        with app.app_context():
            send_mail(to, subject, body)
    except (MailError, OSError):
        log.exception("%s not sent", what)
    finally:
        with _in_flight_lock:
            _in_flight.discard(threading.current_thread())


def wait_for_mail(timeout: float = 10.0) -> bool:
    """Waits for the deliveries under way (tests, and a clean shutdown); True if none is left."""
    deadline = time.monotonic() + timeout
    while True:
        with _in_flight_lock:
            threads = list(_in_flight)
        if not threads:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        threads[0].join(remaining)
