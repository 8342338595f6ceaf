"""Promises 19, 20 and 22 at the edges tests/test_config.py does not reach.

tests/test_config.py::test_production_refuses_development_values shows one value of each kind
refused; here every tenant secret is refused both missing and as the development value, the real
entry point (`wsgi:app`, what gunicorn imports) refuses to start through the environment (a
per-worker rate-limit store, no mail server, and without GASPAY_ENV the development secret key
next to the real gateways or live keys, included), debug stays off whatever the environment
says, an error is a generic page with the details in the log, and an HTTPS form post passes CSRF
only with a same-origin Referer (which the Referrer-Policy still sends).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from gaspay import create_app
from gaspay.config import ConfigError
from gaspay.tenancy.config import WOMPI_SECRETS
from gaspay.tenancy.secrets import sandbox_value
from tests.conftest import ROOT, csrf_from
from tests.test_config import GOOD_SECRET, production

PORTAL = "https://portal.test"


@pytest.mark.parametrize("value", ["", "development"])
@pytest.mark.parametrize("name", WOMPI_SECRETS)
@pytest.mark.parametrize("slug", ["insesp", "interservicios"])
def test_every_tenant_secret_is_refused_missing_or_development(database_url, slug, name, value):
    key = f"{slug.upper()}_WOMPI_{name.upper()}"
    bad = sandbox_value(slug, name) if value == "development" else ""
    with pytest.raises(ConfigError, match=f"GASPAY_{key}"):
        create_app(production(database_url, **{key: bad}))


@pytest.mark.parametrize("value", ["", "development"])
@pytest.mark.parametrize("name", ["login", "secret_key"])
def test_the_placetopay_tenant_secrets_are_refused_missing_or_development(
    database_url, name, value
):
    from gaspay.tenancy.secrets import placetopay_sandbox_value

    key = f"GASNOVA_PLACETOPAY_{name.upper()}"
    bad = placetopay_sandbox_value("gasnova", name) if value == "development" else ""
    with pytest.raises(ConfigError, match=f"GASPAY_{key}"):
        create_app(production(database_url, **{key: bad}))


@pytest.mark.parametrize("secret", [None, "", "s" * 31])
def test_a_missing_or_short_secret_key_is_refused(database_url, secret):
    config = production(database_url, SECRET_KEY=secret)
    if secret is None:
        config.pop("SECRET_KEY")  # the code default is the development value
    with pytest.raises(ConfigError, match="GASPAY_SECRET_KEY"):
        create_app(config)


def _environment(database_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GASPAY_", "FLASK_"))}
    env.update(
        {
            "GASPAY_ENV": "production",
            "GASPAY_DATABASE_URL": database_url,
            "GASPAY_SANDBOX": "false",
            "GASPAY_INSTANCE_PATH": str(ROOT / "test-artifacts" / "no-instance"),
            "GASPAY_TENANTS_DIR": str(ROOT / "instance" / "tenants"),
            "GASPAY_SECRET_KEY": GOOD_SECRET,
        }
    )
    for key, value in production(database_url).items():
        if "_WOMPI_" in key or "_PLACETOPAY_" in key or key.startswith(("RATELIMIT_", "MAIL_")):
            env[f"GASPAY_{key}"] = value if isinstance(value, str) else str(value).lower()
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def _start_wsgi(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import `wsgi:app` as gunicorn does, in a process of its own."""
    code = "import wsgi; print('debug', wsgi.app.debug)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"GASPAY_SECRET_KEY": None}, "GASPAY_SECRET_KEY"),
        ({"GASPAY_SANDBOX": "true"}, "GASPAY_SANDBOX"),
        ({"GASPAY_INSESP_WOMPI_EVENTS_SECRET": None}, "GASPAY_INSESP_WOMPI_EVENTS_SECRET"),
        (
            {"GASPAY_INTERSERVICIOS_WOMPI_PRIVATE_KEY": "prv_test_sandbox_dev_interservicios"},
            "GASPAY_INTERSERVICIOS_WOMPI_PRIVATE_KEY",
        ),
        ({"GASPAY_RATELIMIT_STORAGE_URI": "memory://"}, "GASPAY_RATELIMIT_STORAGE_URI"),
        ({"GASPAY_RATELIMIT_STORAGE_URI": None}, "GASPAY_RATELIMIT_STORAGE_URI"),
        ({"GASPAY_MAIL_SERVER": None}, "GASPAY_MAIL_SERVER"),
        # GASPAY_ENV forgotten: the development key must not sign for the real gateways.
        ({"GASPAY_ENV": None, "GASPAY_SECRET_KEY": None}, "GASPAY_SECRET_KEY"),
        (
            {"GASPAY_ENV": None, "GASPAY_SECRET_KEY": None, "GASPAY_SANDBOX": "true"},
            "GASPAY_INSESP_WOMPI_PRIVATE_KEY is a live key",
        ),
    ],
    ids=[
        "no-secret-key",
        "sandbox",
        "no-events-secret",
        "sandbox-private-key",
        "memory-rate-limits",
        "default-rate-limits",
        "no-mail-server",
        "no-env-sandbox-off-development-key",
        "no-env-live-keys-development-key",
    ],
)
def test_the_real_entry_point_refuses_to_start(database_url, overrides, message):
    result = _start_wsgi(_environment(database_url, **overrides))
    assert result.returncode != 0
    assert message in result.stderr and "ConfigError" in result.stderr


def test_the_real_entry_point_starts_with_debug_off_whatever_the_environment_says(database_url):
    env = _environment(database_url, FLASK_DEBUG="1", GASPAY_DEBUG="true")
    result = _start_wsgi(env)
    assert result.returncode == 0, result.stderr
    assert "debug False" in result.stdout


def test_an_error_in_production_is_a_generic_page_and_a_logged_traceback(production_app, caplog):
    app = production_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("detalle-interno-42")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom", base_url=PORTAL)
    body = response.get_data(as_text=True)
    assert response.status_code == 500 and "Ocurrió un error" in body
    assert "detalle-interno-42" not in body and "Traceback" not in body
    [record] = [r for r in caplog.records if r.exc_info]
    assert "detalle-interno-42" in str(record.exc_info[1])


@pytest.mark.parametrize(
    ("referer", "status"),
    [
        (f"{PORTAL}/insesp/factura", 200),
        (None, 400),
        ("https://evil.test/insesp/factura", 400),
        ("http://portal.test/insesp/factura", 400),
    ],
    ids=["same-origin", "none", "other-site", "plain-http"],
)
def test_an_https_post_needs_a_same_origin_referer(production_app, app, referer, status):
    """Flask-WTF checks the Referer on HTTPS: the policy `same-origin` must keep sending it."""
    client = production_app().test_client()
    page = client.get("/insesp/factura", base_url=PORTAL)
    assert page.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin")
    token = csrf_from(page.get_data(as_text=True))
    headers = {"Referer": referer} if referer else {}
    response = client.post(
        "/insesp/factura",
        base_url=PORTAL,
        data={"numero": "21053", "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == status


def test_the_demo_data_and_its_public_login_are_refused_in_production(
    production_app, app, tmp_path, monkeypatch
):
    from sqlalchemy import func, select

    from gaspay.accounts.models import Customer
    from gaspay.demo import DEMO_CUSTOMER

    monkeypatch.setenv("GASPAY_INSTANCE_PATH", str(tmp_path))  # the CSV it writes goes there
    prod = production_app(TENANTS_DIR=str(ROOT / "instance" / "tenants"))
    with prod.app_context():  # else the `app` fixture's context is the one the command sees
        from gaspay.extensions import db

        result = prod.test_cli_runner().invoke(args=["demo", "load"])
        demo = db.session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.email == DEMO_CUSTOMER["email"])
        )
        db.session.remove()
    assert demo == 0
    assert result.exit_code != 0 and "production" in result.output
