"""Bills: search; upload the CLI's CSV (validated whole first), confirm, progress, history."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import and_, or_, select
from wtforms import BooleanField

from gaspay.billing import importer
from gaspay.billing.models import IMPORT_DONE, IMPORT_FAILED, IMPORT_VALIDATED, Bill
from gaspay.billing.numbers import InvalidNumber, normalise_number
from gaspay.extensions import db
from gaspay.staff import auth, imports
from gaspay.staff.views import bp
from gaspay.web.security import upload_limit
from gaspay.web.templating import render, tenant_url

MAX_SHOWN = 50
STATUS_WORDS = {
    "validated": "Validada, sin confirmar",
    "queued": "En cola",
    "running": "Importando",
    "done": "Terminada",
    "failed": "Fallida",
}


class UploadForm(FlaskForm):
    archivo = FileField("Archivo CSV de facturas")


class ConfirmForm(FlaskForm):
    omitir = BooleanField("Importar solo las líneas válidas (omitir las inválidas)")


def search_bills(slug: str, text: str) -> list[Bill]:
    text = text.strip()[:60]
    branches = [and_(Bill.tenant == slug, Bill.bill_number == text)]
    try:
        number = normalise_number(text)
    except InvalidNumber:
        number = None
    if number:
        branches += [
            and_(Bill.tenant == slug, Bill.client_number == number),
            and_(Bill.tenant == slug, Bill.payment_reference == number),
        ]
    return list(
        db.session.scalars(
            select(Bill)
            .where(or_(*branches))
            .order_by(Bill.due_on.desc(), Bill.id)
            .limit(MAX_SHOWN)
        )
    )


@bp.get("/facturas", endpoint="bills")
@auth.requires("view")
def bills():
    text = (request.args.get("q") or "").strip()
    found = search_bills(g.tenant.slug, text) if text else None
    context = {
        "q": text,
        "found": found,
        "loads": importer.list_imports(g.tenant.slug, limit=20),
        "status_words": STATUS_WORDS,
    }
    return render_template("staff/bills.html", **context)


@bp.route("/facturas/cargar", methods=["GET", "POST"], endpoint="bills_upload")
@upload_limit(imports.UPLOAD_MAX_BYTES)
@auth.requires("upload")
def upload():
    form = UploadForm()
    error = None
    if form.validate_on_submit():
        try:
            record = imports.validate_upload(
                g.tenant.slug, request.files.get("archivo"), auth.current_staff()
            )
        except imports.UploadError as exc:
            error = str(exc)
        else:
            return redirect(tenant_url("staff.bill_import", import_id=record.id), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("staff/bills_upload.html", form=form, error=error), status


def _load(import_id: int):
    record = importer.get_import(g.tenant.slug, import_id)
    if record is None:
        abort(404)
    return record


@bp.get("/facturas/cargas/<int:import_id>", endpoint="bill_import")
@auth.requires("view")
def bill_import(import_id: int):
    record = _load(import_id)
    context = {
        "record": record,
        "form": ConfirmForm(),
        "status_words": STATUS_WORDS,
        "final": record.status in (IMPORT_DONE, IMPORT_FAILED, IMPORT_VALIDATED),
    }
    return render("staff/bill_import.html", "staff/_bill_import_progress.html", **context)


@bp.post("/facturas/cargas/<int:import_id>/confirmar", endpoint="bill_import_confirm")
@auth.requires("upload")
def confirm(import_id: int):
    _load(import_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            record = imports.confirm(
                g.tenant.slug, import_id, auth.current_staff(), form.omitir.data
            )
        except importer.ImportRefused as exc:
            flash(str(exc), "error")
        except importer.ImportRunFailed as exc:
            flash(str(exc), "error")
        else:
            if record.status == IMPORT_DONE:
                flash("La carga terminó.", "ok")
            else:
                flash("La carga quedó en cola y se importa en segundo plano.", "ok")
    return redirect(tenant_url("staff.bill_import", import_id=import_id), code=303)
