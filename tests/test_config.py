"""Configuration layers and the production start-up checks."""

from __future__ import annotations

import pytest

from gaspay import create_app
from gaspay.config import DEV_SECRET_KEY, ConfigError

GOOD_SECRET = "s" * 48


def production(database_url, **extra):
    config = {
        "ENV_NAME": "production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": GOOD_SECRET,
        "SANDBOX": False,
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
