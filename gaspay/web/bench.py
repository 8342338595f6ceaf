"""Reference endpoints for `make bench`: the framework's own ceiling in the same app and server.

Mounted only when GASPAY_BENCH_ENDPOINTS is true, never in production (start-up refuses it).
"""

from flask import Blueprint, Flask

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


def register(app: Flask) -> None:
    if not app.config.get("BENCH_ENDPOINTS"):
        return
    if app.config.get("PRODUCTION"):
        raise ConfigError("GASPAY_BENCH_ENDPOINTS must be off in production")
    app.register_blueprint(bp)
