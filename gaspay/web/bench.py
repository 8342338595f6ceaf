"""Reference endpoints for `make bench`: the framework's own ceiling in the same app and server.

Mounted only when GASPAY_BENCH_ENDPOINTS is true, never in production (start-up refuses it).
"""

from flask import Blueprint, Flask, abort, current_app, request

from gaspay.config import ConfigError
from gaspay.extensions import csrf

bp = Blueprint("bench", __name__, url_prefix="/_bench")


@bp.get("/bare")
def bare_get():
    return "ok"


@bp.post("/bare")
@csrf.exempt
def bare_post():
    return {"status": "ok"}


@bp.get("/query/<slug>")
def query_floor(slug: str):
    """The floor of any page that reads a bill: the bare GET plus the guest lookup's own query
    (``lookup_bills``: one indexed ORM select of up to 24 bills), and nothing else."""
    from gaspay.billing.services import lookup_bills

    tenant = current_app.extensions["gaspay.tenants"].get(slug)
    if tenant is None:
        abort(404)
    found = lookup_bills(tenant, request.args.get("n", ""))
    return "ok" if found.found else "none"


def register(app: Flask) -> None:
    if not app.config.get("BENCH_ENDPOINTS"):
        return
    if app.config.get("PRODUCTION"):
        raise ConfigError("GASPAY_BENCH_ENDPOINTS must be off in production")
    app.register_blueprint(bp)
