"""Configuration in layers: code defaults -> instance/gaspay.toml -> GASPAY_* environment -> tests.

Every setting can come from the environment with the ``GASPAY_`` prefix (``GASPAY_SECRET_KEY``
sets ``SECRET_KEY``); per-tenant gateway secrets follow the same rule
(``GASPAY_INSESP_WOMPI_PRIVATE_KEY`` sets ``INSESP_WOMPI_PRIVATE_KEY``) so they never live in a
file of the repository.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

DEV_SECRET_KEY = "dev-only-secret-not-for-production"  # noqa: S105 - refused in production
MIN_SECRET_LENGTH = 32
# Wompi's production credentials start so (docs: wompi.md); test ones start pub_test_ etc.
LIVE_WOMPI_PREFIXES = ("pub_prod_", "prv_prod_", "prod_integrity_", "prod_events_")
# Forms are a few KB; an upload route raises its own limit (gaspay.web.security.upload_limit).
MAX_CONTENT_LENGTH = 64 * 1024


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
        "RATELIMIT_STORAGE_URI": "memory://",  # refused in production: one store per worker
        "RATELIMIT_HEADERS_ENABLED": False,  # each header costs storage round trips
        # A pooled PostgreSQL connection idle this long (seconds) is tested before use.
        "DB_PING_AFTER_IDLE": 10,
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
        # Past the tenant's pending_review_hours a still-pending attempt is asked this often.
        "RECONCILE_SLOW_INTERVAL_MINUTES": 60,
        # The payer's status page (it polls every 3 s while pending), per client address.
        "RESULT_RATE_LIMIT": "90 per minute",
        "BILL_TOKEN_MAX_AGE_SECONDS": 30 * 60,
        # Bodies past this answer 413 before they are parsed (GASPAY_MAX_CONTENT_LENGTH).
        "MAX_CONTENT_LENGTH": MAX_CONTENT_LENGTH,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 3600 * 2,
        "MAIL_DIR": str(instance / "mail"),
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
    # No pool_pre_ping: gaspay.db tests a connection only after it sat idle (DB_PING_AFTER_IDLE).
    # hide_parameters: an error (in a log, a delivery's last_error) never echoes bound values,
    # which are payers' data.
    options = {"hide_parameters": True} | dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
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


def weak_secret_key(config) -> bool:
    """Missing, short, or the development value that anyone can read in this file."""
    secret = config.get("SECRET_KEY") or ""
    return secret == DEV_SECRET_KEY or len(str(secret)) < MIN_SECRET_LENGTH


def check_production(config) -> None:
    if weak_secret_key(config):
        raise ConfigError(
            "GASPAY_SECRET_KEY is missing or a development value: set a random value of at "
            f"least {MIN_SECRET_LENGTH} characters"
        )
    if config.get("SANDBOX"):
        raise ConfigError("GASPAY_SANDBOX must be off in production (the gateway emulator)")
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "")
    if urlsplit(storage).scheme in ("", "memory"):
        raise ConfigError(
            "GASPAY_RATELIMIT_STORAGE_URI must be a shared store in production (each worker "
            "counts apart with memory://): set e.g. redis://127.0.0.1:6379/0"
        )
    if not str(config.get("MAIL_SERVER") or "").strip():
        raise ConfigError(
            "GASPAY_MAIL_SERVER is missing: production sends password-reset mail by SMTP"
        )
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        # Allowed, but worth saying: several app servers need PostgreSQL.
        pass


def check_signing_key(config, tenants: Iterable) -> None:
    """Outside production too, the development key must not sign anything real.

    It signs sessions and bill tokens, and it is public: with the sandbox off (the real
    gateways) or any tenant on live Wompi keys, a forged token would open any bill. Called once
    the tenants' accounts are bound.
    """
    if not weak_secret_key(config):
        return
    reasons = []
    if not config.get("SANDBOX"):
        reasons.append("GASPAY_SANDBOX is off")
    for tenant in tenants:
        account = getattr(tenant, "wompi", None)
        for name in ("public_key", "private_key", "integrity_secret", "events_secret"):
            if str(getattr(account, name, "") or "").startswith(LIVE_WOMPI_PREFIXES):
                reasons.append(f"GASPAY_{tenant.env_prefix}_WOMPI_{name.upper()} is a live key")
    if reasons:
        raise ConfigError(
            f"GASPAY_SECRET_KEY is missing or a development value while {', '.join(reasons)}: "
            f"set a random value of at least {MIN_SECRET_LENGTH} characters"
        )
