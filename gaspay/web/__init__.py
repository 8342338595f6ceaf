"""What is not any tenant's: the company list, the health check, security and error pages."""

from flask import Blueprint, current_app, render_template
from sqlalchemy import text

from gaspay.extensions import db

bp = Blueprint("web", __name__)


@bp.get("/")
def index():
    return render_template("index.html", tenants=current_app.extensions["gaspay.tenants"].values())


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any database failure means "not healthy"
        current_app.logger.exception("health check: database unreachable")
        return {"status": "error", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}
