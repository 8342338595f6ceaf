"""Reference endpoints for `make bench`: the framework's own ceiling in the same app and server.

Not part of the product: only the benchmark's own gunicorn entry (``bench/_wsgi.py``) registers
this blueprint on the app that ``wsgi.py`` builds; no deployment serves ``/_bench``.
"""

from flask import Blueprint, Flask, abort, current_app, request

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
    """Mount the reference endpoints on an app built by ``create_app`` (once)."""
    if bp.name not in app.blueprints:
        app.register_blueprint(bp)
