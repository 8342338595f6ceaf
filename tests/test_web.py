"""Pages every visitor reaches: the company list, health, security headers, static files."""

from __future__ import annotations

import pytest


def test_index_lists_the_companies(client):
    html = client.get("/").get_data(as_text=True)
    assert "Insesp" in html and "Interservicios" in html


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok", "database": "ok"}


def test_healthz_says_503_when_the_database_is_down(client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from gaspay.extensions import db

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", down)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "unreachable"}


@pytest.mark.parametrize("path", ["/", "/insesp/", "/insesp/factura", "/no-existe"])
def test_security_headers_on_every_page(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_tenant_style_is_allowed_by_hash_not_unsafe_inline(client):
    import base64
    import hashlib

    response = client.get("/insesp/")
    css = ":root{--brand:#0b4f8a}"
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"<style>{css}</style>" in response.get_data(as_text=True)
    assert f"'sha256-{digest}'" in response.headers["Content-Security-Policy"]


def test_pages_reference_no_third_party_host(client):
    html = client.get("/insesp/factura").get_data(as_text=True)
    assert "https://" not in html and "//cdn" not in html


def test_static_files_are_hashed_and_cached_long(client):
    html = client.get("/insesp/").get_data(as_text=True)
    assert "/static/app.js?v=" in html
    assert "htmx" not in html  # payer pages carry no htmx (15 kB): the staff area does
    with client.get("/static/app.css") as response:
        assert "max-age=31536000" in response.headers["Cache-Control"]


def test_unknown_page_is_spanish_404(client):
    response = client.get("/insesp/nada")
    assert response.status_code == 404
    assert "Página no encontrada" in response.get_data(as_text=True)


def test_pages_and_static_files_are_compressed(client):
    page = client.get("/insesp/factura", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    browser = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # pages: gzip first (the module)
    assert client.get("/insesp/factura", headers=browser).headers["Content-Encoding"] == "gzip"
    brotli_only = client.get("/insesp/factura", headers={"Accept-Encoding": "br"})
    assert brotli_only.headers["Content-Encoding"] == "br"
    with client.get("/static/vendor/htmx-2.0.11.min.js", headers=browser) as static:
        assert static.headers["Content-Encoding"] == "br"  # compressed once: Brotli pays
    with client.get(
        "/static/vendor/htmx-2.0.11.min.js", headers={"Accept-Encoding": "br, gzip"}
    ) as response:
        assert response.headers["Content-Encoding"] in ("br", "gzip")
        assert len(response.data) < 20_000  # 52 kB raw
        assert "max-age=31536000" in response.headers["Cache-Control"]
        etag = response.headers["ETag"]
    with client.get(
        "/static/vendor/htmx-2.0.11.min.js",
        headers={"Accept-Encoding": "br, gzip", "If-None-Match": etag},
    ) as again:
        assert again.status_code == 304
    with client.get("/static/app.css") as plain:
        assert "Content-Encoding" not in plain.headers


DOCUMENT_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Permissions-Policy")


def test_pages_carry_every_security_header(client):
    response = client.get("/insesp/factura")
    for name in (*DOCUMENT_HEADERS, "Referrer-Policy", "X-Content-Type-Options"):
        assert response.headers.get(name), name
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/static/app.js", "/static/app.css"])
def test_scripts_and_stylesheets_carry_only_what_applies_to_them(client, path):
    """A script or stylesheet is never a document: the document headers would be bytes only."""
    with client.get(path, headers={"Accept-Encoding": "br"}) as response:
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        for name in (*DOCUMENT_HEADERS, "Referrer-Policy"):
            assert name not in response.headers, name


def test_an_svg_can_render_so_it_keeps_the_document_headers(client):
    with client.get("/static/tenants/insesp.svg") as response:
        assert response.status_code == 200
        for name in DOCUMENT_HEADERS:
            assert response.headers.get(name), name


def test_a_small_logo_is_inline_and_a_missing_file_keeps_its_headers(client):
    html = client.get("/insesp/").get_data(as_text=True)
    assert 'src="data:image/svg+xml,%3Csvg' in html
    missing = client.get("/static/nada.js")
    assert missing.status_code == 404
    assert missing.headers.get("Content-Security-Policy")  # an HTML error page is a document


def test_tenant_urls_are_built_once_per_mount_point_and_arguments(app):
    """tenant_url keeps what it built; the mount point and the arguments are part of the key."""
    from flask import g

    from gaspay.web.templating import tenant_url

    tenant = app.extensions["gaspay.tenants"]["insesp"]
    for root in ("", "/portal"):
        with app.test_request_context("/", base_url=f"http://localhost{root}"):
            g.tenant = tenant
            assert tenant_url("billing.lookup") == f"{root}/insesp/factura"
            assert tenant_url("payments.result", reference="GA1") == f"{root}/insesp/pagos/GA1"
            assert tenant_url("payments.result", reference="GA2") == f"{root}/insesp/pagos/GA2"
            assert tenant_url("billing.lookup", n="1") == f"{root}/insesp/factura?n=1"
    kept = app.extensions["gaspay.tenant_urls"]
    assert len(kept) == 8 and ("/portal", "insesp.billing.lookup") in kept
