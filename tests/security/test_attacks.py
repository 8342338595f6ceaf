"""Attack suite: every POST route needs CSRF, every page carries the security headers, no secret
reaches a page, and production refuses to start on development values. Routes are read from the
URL map, so a new route is covered without touching this file."""

from __future__ import annotations

import re

import pytest

from gaspay import create_app
from tests.conftest import base_config

EXEMPT_PREFIXES = ("/sandbox", "/_bench")  # development-only; refused in production
WEBHOOK_RE = re.compile(r"^/[a-z0-9-]+/webhooks/")
DUMMY = {"int": 1, "default": "GPAAAAAAAAAA", "string": "GPAAAAAAAAAA", "path": "x"}


def _url(rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__.replace("Converter", "").lower()
        values[name] = DUMMY.get("int" if kind == "integer" else kind, "1")
    return rule.build(values, append_unknown=False)[1]


def _routes(methods: str):
    app = create_app(base_config("sqlite://"))
    for rule in app.url_map.iter_rules():
        if methods in rule.methods and not rule.rule.startswith(EXEMPT_PREFIXES):
            yield rule


POST_ROUTES = sorted({_url(r) for r in _routes("POST") if not WEBHOOK_RE.match(r.rule)})
GET_PAGES = sorted(
    {_url(r) for r in _routes("GET") if not r.rule.startswith("/static") and "<" not in r.rule}
)


def test_the_map_is_not_empty():
    assert "/insesp/factura" in POST_ROUTES and "/insesp/pse/pagar" in POST_ROUTES
    assert "/insesp/" in GET_PAGES


@pytest.mark.parametrize("url", POST_ROUTES)
def test_every_post_route_refuses_a_missing_csrf_token(client, url):
    response = client.post(url, data={"numero": "21053"})
    assert response.status_code == 400, url
    assert "El formulario venció" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", POST_ROUTES)
def test_every_post_route_refuses_a_forged_csrf_token(client, url):
    client.get("/insesp/factura")  # a session exists, the token does not match it
    response = client.post(url, data={"csrf_token": "forged.token.value"})
    assert response.status_code == 400, url


@pytest.mark.parametrize("url", GET_PAGES)
def test_security_headers_on_every_page(client, url):
    response = client.get(url)
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, url
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"


def test_production_cookies_and_hsts(database_url):
    from tests.test_config import production

    app = create_app(production(database_url))
    client = app.test_client()
    response = client.get("/insesp/factura", base_url="https://portal.test")
    cookie = response.headers.get("Set-Cookie", "")
    assert cookie.startswith("__Host-gaspay=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Domain" not in cookie
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_no_secret_in_any_page(client, tenants, make_bill):
    make_bill()
    secrets = []
    for tenant in tenants.values():
        if account := tenant.wompi:
            secrets += [account.private_key, account.integrity_secret, account.events_secret]
        if site := tenant.placetopay:
            secrets.append(site.secret_key)
    assert secrets
    pages = [client.get(url).get_data(as_text=True) for url in GET_PAGES]
    for secret in secrets:
        assert all(secret not in page for page in pages), secret


def test_no_card_field_anywhere(client):
    for url in GET_PAGES:
        html = client.get(url).get_data(as_text=True).lower()
        assert 'autocomplete="cc-number"' not in html and 'name="card' not in html, url
