"""Exports for a day or a range: CSV (Spanish Excel), XLSX, Asobancaria 2001; streamed."""

from __future__ import annotations

from flask import Response, g, render_template, request, stream_with_context

from gaspay.staff import audit, auth, exports
from gaspay.staff.forms import ExportForm
from gaspay.staff.views import bp
from gaspay.timeutil import today_in_bogota


@bp.route("/exportar", methods=["GET", "POST"], endpoint="exports")
@auth.requires("export")
def export():
    form = ExportForm()
    if request.method == "GET":
        form.desde.data = form.hasta.data = today_in_bogota()
    error = None
    if form.validate_on_submit():
        try:
            result = exports.build(g.tenant, form.formato.data, form.desde.data, form.hasta.data)
        except exports.ExportError as exc:
            error = str(exc)
        else:
            user = auth.current_staff()
            audit.log(
                g.tenant.slug,
                user.email,
                "export",
                result.filename,
                f"{form.formato.data} {form.desde.data:%Y-%m-%d} a {form.hasta.data:%Y-%m-%d}",
            )
            response = Response(stream_with_context(result.chunks), mimetype=result.mimetype)
            response.headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
            return response
    status = 422 if request.method == "POST" else 200
    return render_template(
        "staff/exports.html", form=form, error=error, formats=exports.FORMATS
    ), status
