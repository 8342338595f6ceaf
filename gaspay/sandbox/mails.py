"""`/sandbox/correos`: the e-mails the portal "sent" in development, read from ``MAIL_DIR``.

Without ``MAIL_SERVER`` the outbox writes every e-mail as a ``.eml`` file under
``instance/mail/``; this page lists them, newest first, and opens each one (its HTML part, its
text part) and its attachments (the receipt's PDF). Like the rest of the sandbox it is mounted
only when ``SANDBOX`` is on, and imports nothing of the portal's features.
"""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template

from gaspay import formatting

bp = Blueprint("sandbox_mail", __name__, url_prefix="/sandbox/correos")
NAME_RE = re.compile(r"^[0-9A-Za-z_.-]{1,120}\.eml$")
HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
MAX_LISTED = 200


def _directory() -> Path:
    return Path(current_app.config["MAIL_DIR"])


def _read(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def _file(name: str) -> Path:
    if not NAME_RE.match(name):
        abort(404)
    path = _directory() / name
    if not path.is_file():
        abort(404)
    return path


def _date(message: EmailMessage) -> str:
    try:
        when = parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError):
        return ""
    return formatting.datetime(when)  # es-CO, Bogotá time


def _attachments(message: EmailMessage) -> list[tuple[int, str, str]]:
    return [
        (i, part.get_filename() or f"adjunto-{i}", part.get_content_type())
        for i, part in enumerate(message.iter_attachments())
    ]


def _summary(path: Path) -> dict:
    message = _read(path)
    return {
        "name": path.name,
        "date": _date(message),
        "to": message["To"] or "",
        "from": message["From"] or "",
        "subject": message["Subject"] or "(sin asunto)",
        "attachments": _attachments(message),
        "has_html": message.get_body(preferencelist=("html",)) is not None,
    }


@bp.get("/")
def index():
    directory = _directory()
    paths = sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
    mails = [_summary(p) for p in paths[:MAX_LISTED] if NAME_RE.match(p.name)]
    return render_template("sandbox/correos.html", mails=mails, directory=directory)


@bp.get("/<name>")
def show(name: str):
    path = _file(name)
    message = _read(path)
    text = message.get_body(preferencelist=("plain",))
    return render_template(
        "sandbox/correo.html",
        mail=_summary(path),
        message_id=message["Message-ID"] or "",
        text=text.get_content() if text is not None else "",
    )


@bp.get("/<name>/html")
def html(name: str):
    message = _read(_file(name))
    part = message.get_body(preferencelist=("html",))
    if part is None:
        abort(404)
    response = Response(part.get_content(), mimetype="text/html")
    response.headers["Content-Security-Policy"] = HTML_CSP
    return response


@bp.get("/<name>/adjuntos/<int:index>")
def attachment(name: str, index: int):
    message = _read(_file(name))
    parts = list(message.iter_attachments())
    if index >= len(parts):
        abort(404)
    part = parts[index]
    filename = re.sub(r"[^0-9A-Za-z_.-]", "_", part.get_filename() or f"adjunto-{index}")
    response = Response(part.get_content(), mimetype=part.get_content_type())
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
