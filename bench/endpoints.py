"""The HTTP benchmark's `/_bench` ceilings and floors, not the product's: ``bench_app()`` only."""

import functools
import threading

import psycopg
from flask import Blueprint, Flask, abort, current_app, request
from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from gaspay.billing.models import Bill
from gaspay.billing.numbers import normalise_number
from gaspay.billing.services import lookup_bills, lookup_statement
from gaspay.extensions import csrf, db

bp = Blueprint("bench", __name__, url_prefix="/_bench")
SENTINEL, _local = "0BENCHSENTINEL0", threading.local()


def _tenant(slug: str):
    return current_app.extensions["gaspay.tenants"].get(slug) or abort(404)


@bp.route("/bare", methods=["GET", "POST"])  # the framework's ceiling (a GET's answer: text)
@csrf.exempt
def bare():
    return "ok" if request.method == "GET" else {"status": "ok"}


@bp.get("/query/<slug>")  # + the lookup's ORM query
def query_floor(slug: str):
    return "ok" if lookup_bills(_tenant(slug), request.args.get("n", "")).found else "none"


@functools.cache
def compiled(slug: str) -> tuple[str, dict]:  # the lookup's SELECT for psycopg, once: SQL, params
    done = lookup_statement(slug, SENTINEL).compile(dialect=PGDialect_psycopg())
    return str(done), dict(done.params)


@bp.get("/driver/<slug>")  # + the same SQL through psycopg alone (PostgreSQL only)
def driver_floor(slug: str):
    _tenant(slug)
    url = current_app.config["DATABASE_URL"]
    if not url.startswith("postgresql"):
        abort(404)
    (sql, params), number = compiled(slug), normalise_number(request.args.get("n", ""))
    args = {k: number if v == SENTINEL else v for k, v in params.items()}
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        conn = _local.conn = psycopg.connect(dsn, autocommit=True)
    return "ok" if conn.execute(sql, args).fetchall() else "none"


@bp.post("/write")  # bare POST + one committed UPDATE of a bill: the one-write floor
@csrf.exempt
def write_floor():
    match = Bill.id == request.args.get("id", type=int)
    db.session.execute(update(Bill).where(match).values(updated_at=func.now()))
    db.session.commit()
    return {"status": "ok"}


def register(app: Flask) -> None:  # on an app built by create_app, once (again is harmless)
    if bp.name not in app.blueprints:
        app.register_blueprint(bp)


def bench_app() -> Flask:  # gunicorn entry of bench/http_bench.py: wsgi.py's app, these endpoints
    from wsgi import app

    register(app)
    return app
