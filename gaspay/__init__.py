"""gaspay: a hosted portal where customers of Colombian utilities pay their bills."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from gaspay.config import check_signing_key, load_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: configuration, extensions, one blueprint per tenant, commands."""
    instance = os.environ.get("GASPAY_INSTANCE_PATH") or str(PROJECT_ROOT / "instance")
    app = Flask(__name__, instance_path=instance)
    load_config(app, test_config)
    configure_logging(app)
    register_extensions(app)
    register_gateways(app)
    register_blueprints(app)
    check_signing_key(app.config, app.extensions["gaspay.tenants"].values())
    register_web(app)
    register_commands(app)
    return app


def register_gateways(app: Flask) -> None:
    """Each provider's adapter under its name (the payment core knows only the registry)."""
    from gaspay.gateways.registry_setup import register_gateways as register

    register(app)


def configure_logging(app: Flask) -> None:
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def register_extensions(app: Flask) -> None:
    from gaspay import models  # noqa: F401 - every table known to metadata and migrations
    from gaspay.accounts import auth
    from gaspay.db import configure_engine
    from gaspay.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)
    login_manager.init_app(app)
    auth.register(login_manager)  # user_loader (tenant + session token) and login redirect
    with app.app_context():
        configure_engine(db.engine, float(app.config.get("DB_PING_AFTER_IDLE", 10)))
    from gaspay import outbox

    outbox.init_app(app)  # the outbox's kinds (email, webhook) and the worker's settings
    from gaspay.staff.imports import register_jobs

    register_jobs()  # the worker runs the staff area's large bill loads ("bill_import")
    from gaspay.payments import inbox

    inbox.register_jobs()  # and applies the gateways' stored notifications ("gateway_event")


def register_blueprints(app: Flask) -> None:
    from gaspay.blueprints import register_tenants
    from gaspay.web import bp as web_bp

    app.register_blueprint(web_bp)
    register_tenants(app)
    if app.config["SANDBOX"]:
        from gaspay.sandbox import register_sandbox

        register_sandbox(app)


def register_web(app: Flask) -> None:
    from gaspay.payments import access
    from gaspay.web import compression, errors, security, templating

    access.register(app)
    security.init_app(app)
    compression.init_app(app)
    templating.init_app(app)
    errors.init_app(app)


def register_commands(app: Flask) -> None:
    from gaspay.cli import register

    register(app)
