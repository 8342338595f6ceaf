"""A tenant served by PlacetoPay: its provider kept, its secrets from GASPAY_<SLUG>_PLACETOPAY_*,
development values in sandbox mode, and production refusing missing or development ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from gaspay import create_app
from gaspay.config import ConfigError
from gaspay.gateways.placetopay import PlacetoPayClient
from gaspay.tenancy.config import (
    PLACETOPAY_SECRETS,
    PlacetoPayAccount,
    TenantConfigError,
    load_tenants,
    parse_tenant,
)
from gaspay.tenancy.secrets import (
    PLACETOPAY_BASE_URL,
    bind_secrets,
    is_development_value,
    placetopay_sandbox_value,
)
from tests.test_config import production
from tests.test_sandbox_placetopay import FlaskAdapter

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "instance" / "tenants"
TENANT_FILE = """
slug = "{slug}"
name = "Gas de Prueba"
legal_name = "GAS DE PRUEBA S.A. E.S.P."
nit = "901.111.222-3"
support_phone = "601 000 0000"
support_email = "soporte@gasdeprueba.test"
brand_color = "#5b2a86"
flows = ["guest_lookup"]

[gateways.pse]
provider = "placetopay"
"""


def tenant(slug="gasprueba", provider="placetopay"):
    data = {
        "slug": slug,
        "name": "Gas de Prueba",
        "legal_name": "GAS DE PRUEBA S.A. E.S.P.",
        "nit": "901.111.222-3",
        "support_phone": "601 000 0000",
        "support_email": "soporte@gasdeprueba.test",
        "brand_color": "#5b2a86",
        "flows": ["guest_lookup"],
        "gateways": {"pse": {"provider": provider}},
    }
    return parse_tenant(data, Path(f"{slug}.toml"))


def real(prefix="GASPRUEBA", **extra) -> dict:
    config = {
        "PRODUCTION": True,
        f"{prefix}_PLACETOPAY_LOGIN": "6dd490faf9cb87a9862245da41170ff2",
        f"{prefix}_PLACETOPAY_SECRET_KEY": "024h1IlD-real-looking",
    }
    config.update(extra)
    return config


def test_the_provider_is_kept_and_placetopay_is_allowed():
    t = tenant()
    assert t.providers == (("pse", "placetopay"),)
    assert t.provider_of("pse") == "placetopay" and t.provider_of("wompi") is None
    assert t.uses_provider("placetopay") and not t.uses_provider("wompi")
    with pytest.raises(TenantConfigError, match=r"gateways\.pse\.provider"):
        tenant(provider="payu")
    insesp = {t.slug: t for t in load_tenants(DEMO)}["insesp"]
    assert insesp.providers == (("pse", "wompi"),)


def test_sandbox_gets_development_values_the_emulator_knows():
    config = {"SANDBOX": True, "SANDBOX_BASE_URL": "http://127.0.0.1:5000/"}
    (bound,) = bind_secrets([tenant()], config)
    assert bound.placetopay == PlacetoPayAccount(
        login="sandbox_dev_gasprueba",
        secret_key="p2p_secret_sandbox_dev_gasprueba",
        base_url="http://127.0.0.1:5000/sandbox/placetopay",
    )
    assert bound.wompi is None  # served by PlacetoPay only: no Wompi keys needed
    assert "secret" not in repr(bound)


def test_wompi_tenants_are_unchanged():
    config = {"SANDBOX": True, "SANDBOX_BASE_URL": "http://127.0.0.1:5000"}
    for bound in bind_secrets(load_tenants(DEMO), config):
        if bound.uses_provider("wompi"):
            assert bound.wompi is not None and bound.placetopay is None


def test_a_long_slug_still_gets_a_login_of_at_most_32_characters():
    login = placetopay_sandbox_value("a" + "b" * 30, "login")
    assert len(login) <= 32 and is_development_value(login)
    assert login != placetopay_sandbox_value("a" + "b" * 29 + "c", "login")
    config = {"SANDBOX": True, "SANDBOX_BASE_URL": "http://x"}
    (bound,) = bind_secrets([tenant(slug="a" + "b" * 30)], config)
    assert bound.placetopay.login == login


def test_production_with_real_values():
    (bound,) = bind_secrets([tenant()], real())
    assert bound.placetopay.base_url == PLACETOPAY_BASE_URL == "https://checkout.placetopay.com"
    test_site = real(GASPRUEBA_PLACETOPAY_BASE_URL="https://checkout-test.placetopay.com/")
    (bound,) = bind_secrets([tenant()], test_site)
    assert bound.placetopay.base_url == "https://checkout-test.placetopay.com"


@pytest.mark.parametrize("value", ["", "development"])
@pytest.mark.parametrize("name", PLACETOPAY_SECRETS)
def test_production_refuses_missing_or_development_values(name, value):
    key = f"GASPRUEBA_PLACETOPAY_{name.upper()}"
    bad = placetopay_sandbox_value("gasprueba", name) if value == "development" else ""
    with pytest.raises(ConfigError, match=f"GASPAY_{key}"):
        bind_secrets([tenant()], real(**{key: bad}))


def test_production_refuses_a_plain_http_base_url_and_a_long_login():
    with pytest.raises(ConfigError, match="GASPAY_GASPRUEBA_PLACETOPAY_BASE_URL"):
        bind_secrets([tenant()], real(GASPRUEBA_PLACETOPAY_BASE_URL="http://checkout.test"))
    with pytest.raises(ConfigError, match="GASPAY_GASPRUEBA_PLACETOPAY_LOGIN"):
        bind_secrets([tenant()], real(GASPRUEBA_PLACETOPAY_LOGIN="x" * 33))


@pytest.fixture
def tenant_dir(tmp_path):
    target = tmp_path / "tenants"
    shutil.copytree(DEMO, target)
    (target / "gasprueba.toml").write_text(TENANT_FILE.format(slug="gasprueba"))
    return target


def test_the_app_refuses_to_start_in_production_without_the_keys(database_url, tenant_dir):
    config = production(database_url, TENANTS_DIR=str(tenant_dir))
    with pytest.raises(ConfigError, match="GASPAY_GASPRUEBA_PLACETOPAY_LOGIN"):
        create_app(config)


def test_the_sandbox_app_knows_the_tenants_site(make_app, tenant_dir):
    """The development secrets and the emulator agree: the real client gets a session."""
    app = make_app(TENANTS_DIR=str(tenant_dir))
    account = app.extensions["gaspay.tenants"]["gasprueba"].placetopay
    assert account.base_url == "http://sandbox.test/sandbox/placetopay"
    http = requests.Session()
    http.mount("http://sandbox.test", FlaskAdapter(app))
    client = PlacetoPayClient(
        base_url=account.base_url,
        login=account.login,
        secret_key=account.secret_key,
        session=http,
        retries=0,
    )
    created = client.create_session(
        reference="GPX0000003",
        description="Factura",
        amount_cents=1_800_000,
        currency="COP",
        return_url="http://sandbox.test/gasprueba/retorno",
        ip_address="127.0.0.1",
        user_agent="pytest",
    )
    assert created.process_url.startswith("http://sandbox.test/sandbox/placetopay/session/")
    assert client.query_session(created.request_id).status.status == "PENDING"


def test_the_hosted_checkout_is_refused_on_placetopay_at_start_up():
    """PlacetoPay's card payments are on its own session page: a tenant file asking for Wompi's
    Web Checkout hand-off on PlacetoPay stops start-up instead of failing the payer later."""
    data = {
        "slug": "gasprueba",
        "name": "Gas de Prueba",
        "legal_name": "GAS DE PRUEBA S.A. E.S.P.",
        "nit": "901.111.222-3",
        "support_phone": "601 000 0000",
        "support_email": "soporte@gasdeprueba.test",
        "brand_color": "#5b2a86",
        "flows": ["customer_accounts"],
        "gateways": {"wompi": {"provider": "placetopay"}},
    }
    with pytest.raises(TenantConfigError, match=r"gateways\.wompi\.provider' must be one of"):
        parse_tenant(data, Path("gasprueba.toml"))
