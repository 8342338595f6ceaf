"""Loading bills from the browser: store the upload, validate it whole, confirm, import.

The file is saved under the instance folder (``uploads/bills/<tenant>/``), validated by
``gaspay.billing.importer.prepare_import`` (nothing written; counts and bad lines recorded in
a ``BillImport``), and confirmed by an administrator. A small file is then imported at once,
in the request; a large one is queued for the background worker (``run_import``), and its page
shows the progress.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage

from gaspay.billing import importer
from gaspay.billing.models import IMPORT_QUEUED, BillImport
from gaspay.staff import audit
from gaspay.staff.models import StaffUser
from gaspay.timeutil import utcnow

UPLOAD_MAX_BYTES = 200 * 1024 * 1024  # a million bills is about 150 MB
# Up to this many lines the confirmation imports at once; more go to the worker.
DIRECT_ROWS = 20_000
ALLOWED_SUFFIXES = (".csv", ".txt")
JOB_KIND = "bill_import"


class UploadError(ValueError):
    """The upload cannot be taken; the message is for the administrator (Spanish)."""


def upload_dir(slug: str) -> Path:
    """GASPAY_STAFF_UPLOAD_DIR, or instance/uploads/bills; one folder per tenant."""
    base = current_app.config.get("STAFF_UPLOAD_DIR")
    folder = Path(base or Path(current_app.instance_path) / "uploads" / "bills") / slug
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_upload(slug: str, upload: FileStorage | None) -> tuple[Path, str]:
    """Save the uploaded file under a name of ours (never the user's) and return it."""
    if upload is None or not upload.filename:
        raise UploadError("Seleccione el archivo CSV de facturas.")
    filename = Path(upload.filename).name[:200]
    if not filename.lower().endswith(ALLOWED_SUFFIXES):
        raise UploadError("El archivo debe ser un CSV (.csv), el mismo que acepta la consola.")
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    target = upload_dir(slug) / f"{stamp}-{secrets.token_hex(8)}.csv"
    upload.save(target)
    if target.stat().st_size == 0:
        target.unlink(missing_ok=True)
        raise UploadError("El archivo está vacío.")
    return target, filename


def validate_upload(slug: str, upload: FileStorage | None, staff: StaffUser) -> BillImport:
    path, filename = store_upload(slug, upload)
    record = importer.prepare_import(slug, path, filename=filename, created_by=staff.email)
    audit.log(
        slug,
        staff.email,
        "upload",
        filename,
        f"carga {record.id}: {record.total_rows} filas, {record.invalid} inválidas",
    )
    return record


def confirm(slug: str, import_id: int, staff: StaffUser, skip_invalid: bool) -> BillImport:
    """Queue the validated load; import it now when small, else hand it to the worker."""
    record = importer.queue_import(slug, import_id, skip_invalid=skip_invalid)
    audit.log(
        slug,
        staff.email,
        "import",
        record.filename,
        f"carga {record.id} confirmada"
        + (" (sin las líneas inválidas)" if skip_invalid and record.invalid else ""),
    )
    if record.total_rows <= current_app.config.get("STAFF_DIRECT_IMPORT_ROWS", DIRECT_ROWS):
        return importer.run_import(slug, record.id)
    dispatch(slug, record.id)
    return importer.get_import(slug, record.id)


def dispatch(slug: str, import_id: int) -> None:
    """Hand a queued load to the background worker (``flask --app gaspay worker``).

    A "bill_import" outbox message: delivered at least once, and ``run_import`` is safe to run
    twice. Should the message be lost between the two commits, ``staff run-imports`` finds the
    load still ``queued``.
    """
    from gaspay.db import write_unit
    from gaspay.outbox import enqueue

    with write_unit():
        enqueue(
            JOB_KIND,
            {"import_id": import_id},
            tenant=slug,
            topic="bill_import",
            subject=("bill_import", import_id),
        )


def run_job(job) -> None:
    """The worker's handler for "bill_import" messages (no transaction open when called)."""
    importer.run_import(job.tenant, int(job.payload["import_id"]))


def register_jobs() -> None:
    """Called by create_app: the worker knows how to run a queued bill load."""
    from gaspay.outbox import register_handler

    # A million rows take about a minute; a run that stops is retried from the start.
    register_handler(JOB_KIND, run_job, retry_schedule=(60, 600, 3600), lease_seconds=3600)


def run_queued(limit: int = 10) -> list[BillImport]:
    """Run the queued loads, oldest first (the fallback for the worker; safe to run twice)."""
    from sqlalchemy import select

    from gaspay.extensions import db

    rows = db.session.execute(
        select(BillImport.tenant, BillImport.id)
        .where(BillImport.status == IMPORT_QUEUED)
        .order_by(BillImport.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    return [importer.run_import(slug, import_id) for slug, import_id in rows]
