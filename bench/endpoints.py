"""The `/_bench` floors and ceilings of the HTTP benchmark (bench/README.md): not the product's."""

import functools
import random
import threading

from flask import Blueprint, Flask, abort, current_app, request

from gaspay.extensions import csrf, db

bp = Blueprint("bench", __name__, url_prefix="/_bench")
SENTINEL = "0BENCHSENTINEL0"
_local = threading.local()


def _tenant(slug: str):
    tenant = current_app.extensions["gaspay.tenants"].get(slug)
    return tenant if tenant is not None else abort(404)


@bp.get("/bare")
def bare_get():
    return "ok"


@bp.post("/bare")
@csrf.exempt
def bare_post():
    return {"status": "ok"}


@bp.get("/query/<slug>")
def query_floor(slug: str):
    from gaspay.billing.services import lookup_bills

    return "ok" if lookup_bills(_tenant(slug), request.args.get("n", "")).found else "none"


@functools.cache
def compiled(slug: str) -> tuple[str, dict]:
    """The lookup's SELECT compiled once for psycopg: (SQL, parameters with SENTINEL)."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from gaspay.billing.services import lookup_statement

    done = lookup_statement(slug, SENTINEL).compile(dialect=PGDialect_psycopg())
    return str(done), dict(done.params)


@bp.get("/driver/<slug>")
def driver_floor(slug: str):
    import psycopg

    from gaspay.billing.numbers import normalise_number

    _tenant(slug)
    url = current_app.config["DATABASE_URL"]
    if not url.startswith("postgresql"):
        abort(404)
    sql, params = compiled(slug)
    number = normalise_number(request.args.get("n", ""))
    args = {k: number if v == SENTINEL else v for k, v in params.items()}
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        conn = _local.conn = psycopg.connect(dsn, autocommit=True)
    return "ok" if conn.execute(sql, args).fetchall() else "none"


@bp.post("/write")
@csrf.exempt
def write_floor():
    from sqlalchemy import func, update

    from gaspay.billing.models import Bill

    bill_id = request.args.get("id", type=int) or random.randint(1, 1000)
    db.session.execute(update(Bill).where(Bill.id == bill_id).values(updated_at=func.now()))
    db.session.commit()
    return {"status": "ok"}


def register(app: Flask) -> None:
    """Mount these endpoints on an app built by ``create_app`` (once; again is harmless)."""
    if bp.name not in app.blueprints:
        app.register_blueprint(bp)


def bench_app() -> Flask:
    """gunicorn entry of bench/http_bench.py: the app of ``wsgi.py`` plus these endpoints."""
    from wsgi import app

    register(app)
    return app
