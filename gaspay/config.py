"""Configuration in layers: code defaults -> instance/gaspay.toml -> GASPAY_* environment -> tests.

Every setting can come from the environment with the ``GASPAY_`` prefix (``GASPAY_SECRET_KEY``
sets ``SECRET_KEY``); per-tenant gateway secrets follow the same rule
(``GASPAY_INSESP_WOMPI_PRIVATE_KEY`` sets ``INSESP_WOMPI_PRIVATE_KEY``) so they never live in a
file of the repository.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from flask import Flask

DEV_SECRET_KEY = "dev-only-secret-not-for-production"  # noqa: S105 - refused in production
MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The deployment's configuration cannot be used; the message says which setting."""


def default_settings(app: Flask) -> dict:
    instance = Path(app.instance_path)
    port = os.environ.get("PORT", "5000")
    return {
        "ENV_NAME": "development",
        "SECRET_KEY": DEV_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{instance / 'gaspay.sqlite3'}",
        "TENANTS_DIR": str(instance / "tenants"),
        # The local gateway emulator; refused in production.
        "SANDBOX": True,
        "SANDBOX_BASE_URL": f"http://127.0.0.1:{port}",
        "SANDBOX_EVENT_DELAY_SECONDS": 0.5,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": False,  # each header costs storage round trips
        "LOOKUP_RATE_LIMIT": "30 per minute;300 per hour",
        "LOOKUP_TARGET_RATE_LIMIT": "20 per minute",
        "PAY_RATE_LIMIT": "10 per minute",
        "GATEWAY_TIMEOUT_SECONDS": 10.0,
        "GATEWAY_RETRIES": 2,
        "ASYNC_URL_WAIT_SECONDS": 8.0,
        "ASYNC_URL_POLL_INTERVAL": 0.4,
        "BANK_LIST_TTL_SECONDS": 24 * 3600,
        "RECONCILE_FIRST_DELAY_MINUTES": 7,
        "RECONCILE_INTERVAL_MINUTES": 12,
        "RECONCILE_EXPIRE_UNKNOWN_MINUTES": 60,
        "BILL_TOKEN_MAX_AGE_SECONDS": 30 * 60,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 3600 * 2,
        "MAIL_DIR": str(instance / "mail"),
        "BENCH_ENDPOINTS": False,
    }


def load_config(app: Flask, test_config: dict | None = None) -> None:
    """Apply the layers in order, then derive and check what depends on them."""
    app.config.update(default_settings(app))
    instance_file = Path(app.instance_path) / "gaspay.toml"
    if instance_file.exists():
        with instance_file.open("rb") as fh:
            app.config.update({k.upper(): v for k, v in tomllib.load(fh).items()})
    app.config.from_prefixed_env("GASPAY")
    if "ENV" in app.config and isinstance(app.config.get("ENV"), str):
        app.config["ENV_NAME"] = app.config["ENV"]
    if test_config:
        app.config.update(test_config)

    production = app.config["ENV_NAME"] == "production"
    app.config["PRODUCTION"] = production
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(app.config["DATABASE_URL"])
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    if production:
        app.debug = False
        app.config.update(
            SESSION_COOKIE_SECURE=True,
            SESSION_COOKIE_NAME="__Host-gaspay",
            REMEMBER_COOKIE_SECURE=True,
            PREFERRED_URL_SCHEME="https",
        )
        check_production(app.config)


def normalise_database_url(url: str) -> str:
    """Accept the common ``postgres://`` spellings and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_production(config) -> None:
    secret = config.get("SECRET_KEY") or ""
    if secret == DEV_SECRET_KEY or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            "GASPAY_SECRET_KEY is missing or a development value: set a random value of at "
            f"least {MIN_SECRET_LENGTH} characters"
        )
    if config.get("SANDBOX"):
        raise ConfigError("GASPAY_SANDBOX must be off in production (the gateway emulator)")
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        # Allowed, but worth saying: several app servers need PostgreSQL.
        pass
