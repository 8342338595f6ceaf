"""Promise 23: `next` never leads off the site, wherever it comes in; reflected text is escaped.

tests/test_accounts.py::test_next_never_leads_off_the_tenant covers `next` in the login form's
POST. Here: `next` in the query string of that POST, the GET of the login page by someone
already logged in (it redirects at once), and the `next` the login redirect itself builds.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import csrf_from
from tests.test_accounts import BASE, logged_in, login, make_customer

HOME = f"{BASE}/avisos"
EVIL = [
    "//evil.test",
    "///evil.test",
    "https://evil.test",
    "https:evil.test",
    "/\\evil.test",
    "\\/evil.test",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "%2F%2Fevil.test",
    "/%2F/evil.test",
    " //evil.test",
    "\t//evil.test",
    "/interservicios/clientes/../../\\evil.test",
    "data:text/html,<script>alert(1)</script>",
]


@pytest.fixture
def client(make_app, app):
    return make_app().test_client()


@pytest.fixture
def customer(app):
    return make_customer()


def stays_home(response) -> bool:
    return response.status_code == 303 and response.headers["Location"] == HOME


@pytest.mark.parametrize("target", EVIL)
def test_next_in_the_query_of_the_login_post(client, customer, target):
    page = client.get(f"{BASE}/entrar", query_string={"next": target})
    token = csrf_from(page.get_data(as_text=True))
    response = client.post(
        f"{BASE}/entrar",
        query_string={"next": target},
        data={"email": customer.email, "password": "pago-seguro-2026", "csrf_token": token},
    )
    assert stays_home(response), response.headers.get("Location")


@pytest.mark.parametrize("target", EVIL)
def test_next_on_the_login_page_when_already_logged_in(client, customer, target):
    logged_in(client)
    response = client.get(f"{BASE}/entrar", query_string={"next": target})
    assert stays_home(response), response.headers.get("Location")


@pytest.mark.parametrize("target", EVIL)
def test_next_in_the_login_form(client, customer, target):
    """The brief's list against the form field too (test_accounts has its own list)."""
    assert stays_home(login(client, next=target))


def test_the_login_redirect_only_ever_asks_to_come_back_to_this_site(client, customer):
    response = client.get(f"{BASE}/pagos", query_string={"next": "//evil.test"})
    location = urlsplit(response.headers["Location"])
    assert response.status_code == 303 and not location.netloc
    [back] = parse_qs(location.query)["next"]
    target = urlsplit(back)  # this very page (its own query included): a path of this tenant
    assert not target.scheme and not target.netloc and target.path == f"{BASE}/pagos"


def test_reflected_text_is_escaped(client, customer):
    """`next` on the login page and the typed number on the lookup come back as text only."""
    script = '"><script>alert(1)</script>'
    page = client.get(f"{BASE}/entrar", query_string={"next": script}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    lookup = client.get("/insesp/factura").get_data(as_text=True)
    token = csrf_from(lookup)
    answer = client.post("/insesp/factura", data={"numero": script, "csrf_token": token})
    assert answer.status_code == 422
    assert "<script>alert(1)</script>" not in answer.get_data(as_text=True)
