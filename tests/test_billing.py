"""Guest lookup: normalisation, plain and htmx renderings, messages, masking, tenant scoping."""

from __future__ import annotations

import datetime as dt

import pytest

from gaspay.billing.numbers import InvalidNumber, normalise_number
from gaspay.billing.services import lookup_bills
from gaspay.timeutil import today_in_bogota


@pytest.mark.parametrize("raw", ["0021053", "21053", " 21053 ", "00 21053", "21.053", "021-053"])
def test_client_numbers_normalise_to_one(raw):
    assert normalise_number(raw) == "21053"


@pytest.mark.parametrize("raw", ["", "   ", "000", "21053;DROP", "á123", None, "x" * 41])
def test_invalid_numbers_are_refused(raw):
    with pytest.raises(InvalidNumber):
        normalise_number(raw)


def lookup(client, csrf, number, htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        "/insesp/factura", data={"numero": number, "csrf_token": csrf()}, headers=headers
    )


@pytest.mark.parametrize("number", ["0021053", "21053", " 21053 "])
def test_plain_lookup_shows_the_bill_with_the_seed_labels(client, csrf, make_bill, number):
    make_bill(client="0021053")
    response = lookup(client, csrf, number)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" in html  # the whole page, for a browser without JavaScript
    for label in (
        "Total a pagar",
        "Total IVA",
        "Concepto",
        "Nombre",
        "Apellido",
        "Email",
        "Teléfono",
        "Vencimiento",
    ):
        assert f"<dt>{label}</dt>" in html
    assert "$ 18.000" in html and "Factura del Gas" in html and "Pagar" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_lookup_returns_only_the_fragment(client, csrf, make_bill):
    make_bill()
    html = lookup(client, csrf, "21053", htmx=True).get_data(as_text=True)
    assert "<html" not in html and "<header" not in html
    assert "$ 18.000" in html and 'class="result"' in html


def test_email_and_phone_are_masked(client, csrf, make_bill):
    make_bill(email="usuario.demo@correo.test", phone="6472050")
    html = lookup(client, csrf, "21053").get_data(as_text=True)
    assert "usuario.demo@correo.test" not in html and "6472050" not in html
    assert "us**********@co****.test" in html and "***2050" in html


def test_several_unpaid_bills_most_urgent_first(client, csrf, make_bill):
    today = today_in_bogota()
    make_bill(concept="Segunda", due_on=today + dt.timedelta(days=30))
    make_bill(concept="Primera", due_on=today + dt.timedelta(days=2))
    html = lookup(client, csrf, "21053").get_data(as_text=True)
    assert html.index("Primera") < html.index("Segunda")
    # One payment for both, ticked by default (issue 14).
    assert html.count("Incluir esta factura en el pago") == 2 and html.count(" checked") == 2
    assert html.count("Pagar $") == 1 and "Pagar $ 36.000" in html


def test_unknown_number_gets_a_clear_message(client, csrf, make_bill):
    make_bill()
    html = lookup(client, csrf, "999999").get_data(as_text=True)
    assert "No encontramos facturas para el número" in html
    assert "Pagar $" not in html


def test_paid_bill_is_said_paid_without_pay_button(client, csrf, make_bill):
    make_bill(state="paid")
    html = lookup(client, csrf, "21053").get_data(as_text=True)
    assert "ya están pagadas" in html and "Pagar $" not in html


def test_overdue_bill_gets_a_message_and_no_pay_button(client, csrf, make_bill):
    make_bill(due_on=today_in_bogota() - dt.timedelta(days=3))
    html = lookup(client, csrf, "21053").get_data(as_text=True)
    assert "venció el" in html and "Pagar $" not in html


def test_empty_and_invalid_numbers_are_explained(client, csrf):
    response = lookup(client, csrf, "")
    assert response.status_code == 422
    assert "Escriba el número de cliente" in response.get_data(as_text=True)
    response = lookup(client, csrf, "21053;--")
    assert "solo puede tener dígitos y letras" in response.get_data(as_text=True)


def test_payment_reference_finds_the_bill(client, csrf, make_bill):
    make_bill(client="555", payment_reference="88001")
    assert "$ 18.000" in lookup(client, csrf, "0088001").get_data(as_text=True)


def test_a_bill_of_one_tenant_is_never_found_through_another(app, make_bill, tenants):
    make_bill(tenant="interservicios", client="0021053")
    assert not lookup_bills(tenants["insesp"], "21053").found
    assert lookup_bills(tenants["interservicios"], "21053").found


def test_bill_token_of_another_tenant_is_not_found(client, make_bill, tenants, app):
    from gaspay.billing.services import bill_token

    bill = make_bill(tenant="interservicios")
    with app.test_request_context():
        token = bill_token(tenants["interservicios"], bill)
    assert client.get(f"/insesp/pse/pagar?factura={token}").status_code == 404
    assert client.get("/insesp/pse/pagar?factura=forged").status_code == 404


def test_lookup_requires_csrf(client, make_bill):
    make_bill()
    response = client.post("/insesp/factura", data={"numero": "21053"})
    assert response.status_code == 400
    assert "El formulario venció" in response.get_data(as_text=True)


def test_lookup_is_rate_limited_per_ip(make_app, make_bill):
    app = make_app(LOOKUP_RATE_LIMIT="3 per minute")
    client = app.test_client()
    with app.app_context():
        token_page = client.get("/insesp/factura").get_data(as_text=True)
    from tests.conftest import csrf_from

    token = csrf_from(token_page)
    codes = [
        client.post(
            "/insesp/factura", data={"numero": str(1000 + i), "csrf_token": token}
        ).status_code
        for i in range(5)
    ]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    response = client.post("/insesp/factura", data={"numero": "1", "csrf_token": token})
    assert "Demasiados intentos" in response.get_data(as_text=True)


def test_lookup_is_rate_limited_per_target(make_app):
    app = make_app(LOOKUP_TARGET_RATE_LIMIT="2 per minute")
    from tests.conftest import csrf_from

    codes = []
    for i in range(4):  # four "different IPs" hammering one client number
        client = app.test_client()
        token = csrf_from(client.get("/insesp/factura").get_data(as_text=True))
        codes.append(
            client.post(
                "/insesp/factura",
                data={"numero": "0021053", "csrf_token": token},
                environ_base={"REMOTE_ADDR": f"10.0.0.{i}"},
            ).status_code
        )
    assert codes == [200, 200, 429, 429]
