"""Configuration layers and the production start-up checks."""

from __future__ import annotations

import os

import pytest

from gaspay import create_app
from gaspay.config import DEV_SECRET_KEY, MAX_CONTENT_LENGTH, ConfigError

GOOD_SECRET = "s" * 48
# Production needs a shared rate-limit store: Redis on this machine, under keys of this run's
# own; when no Redis answers the limiter counts in memory instead (the suite needs no Redis).
TEST_REDIS = {
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/14",
    "RATELIMIT_KEY_PREFIX": f"gaspay-test-{os.getpid()}",
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
}
# Production needs a mail server; nothing listens on this port (a mail sent is logged as lost).
TEST_MAIL = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 9, "MAIL_USE_TLS": False}


def production(database_url, **extra):
    config = {
        "ENV_NAME": "production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": GOOD_SECRET,
        "SANDBOX": False,
        **TEST_REDIS,
        **TEST_MAIL,
    }
    for slug in ("INSESP", "INTERSERVICIOS"):
        config.update(
            {
                f"{slug}_WOMPI_PUBLIC_KEY": f"pub_prod_{slug.lower()}_live",
                f"{slug}_WOMPI_PRIVATE_KEY": f"prv_prod_{slug.lower()}_live",
                f"{slug}_WOMPI_INTEGRITY_SECRET": f"prod_integrity_{slug.lower()}",
                f"{slug}_WOMPI_EVENTS_SECRET": f"prod_events_{slug.lower()}",
            }
        )
    config.update(
        {
            "GASNOVA_PLACETOPAY_LOGIN": "gasnova_live_login",
            "GASNOVA_PLACETOPAY_SECRET_KEY": "gasnova-live-secret-key",
        }
    )
    config.update(extra)
    return config


def test_production_starts_with_real_settings(database_url):
    app = create_app(production(database_url))
    assert app.config["PRODUCTION"] and not app.debug
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-gaspay"
    assert "sandbox" not in {bp.split(".")[0] for bp in app.blueprints}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": DEV_SECRET_KEY}, "GASPAY_SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "GASPAY_SECRET_KEY"),
        ({"SANDBOX": True}, "GASPAY_SANDBOX"),
        ({"INSESP_WOMPI_PRIVATE_KEY": ""}, "GASPAY_INSESP_WOMPI_PRIVATE_KEY"),
        ({"INSESP_WOMPI_EVENTS_SECRET": "test_events_sandbox_dev_insesp"}, "EVENTS_SECRET"),
        ({"INTERSERVICIOS_WOMPI_API_URL": "http://evil.test/v1"}, "must be an https"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "GASPAY_RATELIMIT_STORAGE_URI"),
        ({"RATELIMIT_STORAGE_URI": ""}, "GASPAY_RATELIMIT_STORAGE_URI"),
        ({"MAIL_SERVER": ""}, "GASPAY_MAIL_SERVER"),
        ({"MAIL_SERVER": None}, "GASPAY_MAIL_SERVER"),
    ],
)
def test_production_refuses_development_values(database_url, override, message):
    with pytest.raises(ConfigError, match=message):
        create_app(production(database_url, **override))


def test_environment_layer_overrides_defaults(monkeypatch, database_url):
    monkeypatch.setenv("GASPAY_LOOKUP_RATE_LIMIT", "7 per minute")
    monkeypatch.setenv("GASPAY_INSESP_WOMPI_PUBLIC_KEY", "pub_test_from_env")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    assert app.config["LOOKUP_RATE_LIMIT"] == "7 per minute"
    assert app.extensions["gaspay.tenants"]["insesp"].wompi.public_key == "pub_test_from_env"


def test_instance_file_layer(tmp_path, monkeypatch, database_url):
    (tmp_path / "gaspay.toml").write_text('lookup_rate_limit = "3 per minute"\n')
    monkeypatch.setenv("GASPAY_INSTANCE_PATH", str(tmp_path))
    from pathlib import Path

    tenants = Path(__file__).resolve().parent.parent / "instance" / "tenants"
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "TENANTS_DIR": str(tenants)})
    assert app.config["LOOKUP_RATE_LIMIT"] == "3 per minute"


def test_postgres_urls_use_psycopg3(database_url):
    app = create_app(
        {"TESTING": True, "DATABASE_URL": "postgres://u@127.0.0.1/x", "SECRET_KEY": GOOD_SECRET}
    )
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@127.0.0.1/x"


def test_unhandled_error_shows_generic_spanish_page(make_app):
    app = make_app(ERROR_PAGES_IN_TESTS=True)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Ocurrió un error" in body and "secret detail" not in body


# --- the development secret key outside production ------------------------------------------

LIVE_KEYS = {
    "INSESP_WOMPI_PUBLIC_KEY": "pub_prod_test-insesp-live",
    "INSESP_WOMPI_PRIVATE_KEY": "prv_prod_test-insesp-live",
    "INSESP_WOMPI_INTEGRITY_SECRET": "prod_integrity_test-insesp",
    "INSESP_WOMPI_EVENTS_SECRET": "prod_events_test-insesp",
}


def development(database_url, **extra):
    """What an operator gets who forgets GASPAY_ENV=production: no secret key of their own."""
    return {"TESTING": True, "DATABASE_URL": database_url, **extra}


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (production(None, ENV_NAME="development"), ["GASPAY_SANDBOX is off"]),
        (LIVE_KEYS, [f"GASPAY_{name}" for name in LIVE_KEYS]),
        (
            {"INTERSERVICIOS_WOMPI_PRIVATE_KEY": "prv_prod_x"},
            ["GASPAY_INTERSERVICIOS_WOMPI_PRIVATE_KEY"],
        ),
        ({"INSESP_WOMPI_EVENTS_SECRET": "prod_events_x"}, ["GASPAY_INSESP_WOMPI_EVENTS_SECRET"]),
    ],
    ids=["sandbox-off", "live-keys", "one-live-private-key", "one-live-events-secret"],
)
@pytest.mark.parametrize("secret", [None, DEV_SECRET_KEY, "corta"])
def test_the_development_key_never_signs_for_real_gateways(database_url, extra, names, secret):
    config = development(database_url, **{**extra, "DATABASE_URL": database_url})
    config.pop("SECRET_KEY", None)
    if secret is not None:
        config["SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="GASPAY_SECRET_KEY") as caught:
        create_app(config)
    for name in names:
        assert name in str(caught.value)


@pytest.mark.parametrize(
    "extra",
    [{}, {"INSESP_WOMPI_PUBLIC_KEY": "pub_test_abc", "INSESP_WOMPI_PRIVATE_KEY": "prv_test_abc"}],
    ids=["sandbox-keys", "wompi-test-keys"],
)
def test_the_development_key_still_serves_the_sandbox(database_url, extra):
    """`make run`: the emulator (or Wompi's test keys) and the development key are fine."""
    app = create_app(development(database_url, **extra))
    assert app.config["SECRET_KEY"] == DEV_SECRET_KEY and app.config["SANDBOX"]


def test_a_real_secret_key_may_use_live_keys_outside_production(database_url):
    app = create_app(development(database_url, SECRET_KEY=GOOD_SECRET, **LIVE_KEYS))
    wompi = app.extensions["gaspay.tenants"]["insesp"].wompi
    assert wompi.private_key == LIVE_KEYS["INSESP_WOMPI_PRIVATE_KEY"]


# --- request size ----------------------------------------------------------------------------


def test_the_request_size_limit_defaults_to_64_kib_and_is_configurable(monkeypatch, database_url):
    assert create_app(development(database_url)).config["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert MAX_CONTENT_LENGTH == 64 * 1024
    monkeypatch.setenv("GASPAY_MAX_CONTENT_LENGTH", "131072")
    assert create_app(development(database_url)).config["MAX_CONTENT_LENGTH"] == 131072
