"""A tenant's `terms_url` (outside review, point 17): payers follow it from the pay form, so it is
an https:// address or a path of this portal; anything else stops start-up naming file and field.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gaspay import create_app
from gaspay.tenancy.config import TenantConfigError

ROOT = Path(__file__).resolve().parent.parent
DEMO_TERMS = 'terms_url = "/interservicios/clientes/terminos"'


@pytest.fixture
def tenant_dir(tmp_path):
    target = tmp_path / "tenants"
    shutil.copytree(ROOT / "instance" / "tenants", target)
    return target


def with_terms(tenant_dir: Path, value: str) -> Path:
    path = tenant_dir / "interservicios.toml"
    text = path.read_text()
    assert DEMO_TERMS in text
    path.write_text(text.replace(DEMO_TERMS, f"terms_url = {value}"))
    return path


@pytest.mark.parametrize(
    "value",
    [
        '"javascript:alert(document.cookie)"',
        '"JavaScript:alert(1)"',
        '"data:text/html,<script>alert(1)</script>"',
        '"http://www.interservicios.co/terminos"',
        '"ftp://www.interservicios.co/terminos.pdf"',
        '"//evil.test/terminos"',
        '"/\\\\evil.test/terminos"',
        '"https://"',
        '"https:///terminos"',
        '" https://www.interservicios.co/terminos"',
        '"https://www.interservicios.co/ter minos"',
        '"terminos.html"',
        '""',
        "42",
    ],
)
def test_a_terms_url_that_is_not_https_stops_start_up(database_url, tenant_dir, value):
    path = with_terms(tenant_dir, value)
    config = {"TESTING": True, "DATABASE_URL": database_url, "TENANTS_DIR": str(tenant_dir)}
    with pytest.raises(TenantConfigError) as caught:
        create_app(config)
    assert str(path) in str(caught.value) and "'terms_url'" in str(caught.value)
    assert "https://" in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        "https://www.interservicios.co/terminos",
        "https://www.interservicios.co/legal/terminos.pdf?v=2026#pagos",
        "/interservicios/clientes/terminos",
    ],
)
def test_an_https_address_or_a_path_of_the_portal_is_kept(database_url, tenant_dir, value):
    with_terms(tenant_dir, f'"{value}"')
    config = {"TESTING": True, "DATABASE_URL": database_url, "TENANTS_DIR": str(tenant_dir)}
    tenant = create_app(config).extensions["gaspay.tenants"]["interservicios"]
    assert tenant.terms_url == value


def test_without_a_terms_url_the_portal_page_is_used(database_url, tenant_dir):
    path = tenant_dir / "interservicios.toml"
    path.write_text(path.read_text().replace(DEMO_TERMS + "\n", ""))
    config = {"TESTING": True, "DATABASE_URL": database_url, "TENANTS_DIR": str(tenant_dir)}
    assert create_app(config).extensions["gaspay.tenants"]["interservicios"].terms_url is None
