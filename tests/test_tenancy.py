"""Tenant files -> Tenant objects -> one blueprint each; errors name the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gaspay import create_app
from gaspay.config import ConfigError
from gaspay.tenancy.config import TenantConfigError, load_tenants

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "instance" / "tenants"


def test_demo_tenants_load():
    tenants = {t.slug: t for t in load_tenants(DEMO)}
    assert set(tenants) == {"insesp", "interservicios", "gasnova"}
    insesp = tenants["insesp"]
    assert insesp.legal_name == "INGENIERIA Y SERVICIOS SOCIEDAD ANONIMA"
    assert insesp.support_phone == "314 2030 301"
    assert insesp.offers("guest_lookup") and not insesp.offers("customer_accounts")
    assert insesp.gateways == ("pse",)
    assert tenants["interservicios"].gateways == ("wompi",)
    gasnova = tenants["gasnova"]  # the PlacetoPay demo: guest lookup, like Insesp
    assert gasnova.offers("guest_lookup") and gasnova.provider_of("pse") == "placetopay"


@pytest.fixture
def tenant_dir(tmp_path):
    target = tmp_path / "tenants"
    shutil.copytree(DEMO, target)
    return target


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('nit = "800.123.456-1"', 'nit = "ABC"', "nit"),
        ('brand_color = "#0b4f8a"', 'brand_color = "azul"', "brand_color"),
        ('brand_color = "#0b4f8a"', 'brand_color = "#f5f5a0"', "brand_color"),
        ('flows = ["guest_lookup"]', 'flows = ["teleport"]', "flows"),
        ('flows = ["guest_lookup"]', "flows = []", "flows"),
        ('slug = "insesp"', 'slug = "Insesp!"', "slug"),
        ('support_phone = "314 2030 301"\n', "", "support_phone"),
        ('provider = "wompi"', 'provider = "paypal"', "gateways.pse.provider"),
        ("pay_overdue = false", 'pay_overdue = "no"', "pay_overdue"),
    ],
)
def test_bad_tenant_file_names_file_and_field(tenant_dir, old, new, field):
    path = tenant_dir / "insesp.toml"
    _rewrite(path, old, new)
    with pytest.raises(TenantConfigError) as info:
        load_tenants(tenant_dir)
    assert str(path) in str(info.value)
    assert f"'{field}'" in str(info.value)


def test_invalid_toml_is_reported_with_file(tenant_dir):
    path = tenant_dir / "insesp.toml"
    path.write_text("slug = \n")
    with pytest.raises(TenantConfigError, match=r"insesp\.toml: not valid TOML"):
        load_tenants(tenant_dir)


def test_slug_must_match_file_name(tenant_dir):
    (tenant_dir / "insesp.toml").rename(tenant_dir / "otra.toml")
    with pytest.raises(TenantConfigError, match=r"otra\.toml: field 'slug'"):
        load_tenants(tenant_dir)


def test_bad_tenant_file_stops_start_up(tenant_dir, database_url):
    _rewrite(tenant_dir / "insesp.toml", 'nit = "800.123.456-1"', 'nit = "x"')
    with pytest.raises(TenantConfigError, match="field 'nit'"):
        create_app({"TESTING": True, "DATABASE_URL": database_url, "TENANTS_DIR": str(tenant_dir)})


def test_operator_adds_a_company_by_adding_a_file(tenant_dir, make_app):
    text = (tenant_dir / "insesp.toml").read_text()
    text = text.replace('slug = "insesp"', 'slug = "gasoriente"')
    text = text.replace('name = "Insesp"', 'name = "Gas Oriente"')
    (tenant_dir / "gasoriente.toml").write_text(text)
    app = make_app(TENANTS_DIR=str(tenant_dir))
    assert "gasoriente" in app.blueprints
    client = app.test_client()
    page = client.get("/gasoriente/").get_data(as_text=True)
    assert "Gas Oriente" in page and "Pago de Factura en Línea" in page
    assert "Gas Oriente" in client.get("/").get_data(as_text=True)


def test_one_blueprint_per_tenant_with_only_its_features(app):
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert "insesp" in app.blueprints and "interservicios" in app.blueprints
    assert "/insesp/factura" in rules and "/insesp/pse/pagar" in rules
    assert "/interservicios/factura" not in rules  # no guest lookup there
    assert "/insesp/clientes/" not in rules  # no customer accounts at Insesp
    assert "/insesp/webhooks/wompi" in rules and "/interservicios/webhooks/wompi" in rules


def test_tenant_secrets_come_from_the_environment(make_app):
    app = make_app(
        INSESP_WOMPI_PUBLIC_KEY="pub_test_abc",
        INSESP_WOMPI_PRIVATE_KEY="prv_test_abc",
        INSESP_WOMPI_INTEGRITY_SECRET="test_integrity_abc",
        INSESP_WOMPI_EVENTS_SECRET="test_events_abc",
        INSESP_WOMPI_API_URL="https://sandbox.wompi.co/v1",
    )
    account = app.extensions["gaspay.tenants"]["insesp"].wompi
    assert account.public_key == "pub_test_abc"
    assert account.events_secret == "test_events_abc"
    assert account.api_url == "https://sandbox.wompi.co/v1"


def test_missing_secret_without_sandbox_names_the_variable(database_url):
    # The first tenant file in name order without its secrets is named (Gasnova: PlacetoPay).
    first = "GASPAY_(GASNOVA_PLACETOPAY_LOGIN|INSESP_WOMPI_PUBLIC_KEY)"
    with pytest.raises(ConfigError, match=first):
        create_app({"TESTING": True, "DATABASE_URL": database_url, "SANDBOX": False})
