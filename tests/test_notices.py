"""'Mis avisos de cobro' and 'Mis pagos': scoping, state words, filter, detail, 404s."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments.models import PaymentAttempt
from gaspay.timeutil import today_in_bogota
from tests.payments_helpers import answer
from tests.test_accounts import BASE, logged_in, make_customer, token_for

TODAY = today_in_bogota()


@pytest.fixture
def client(make_app, app):
    """Own app object, so `g` is fresh for every request (see tests/test_accounts.py)."""
    return make_app().test_client()


@pytest.fixture
def customer(app):
    return make_customer(clients=("100245", "0100246"))


@pytest.fixture
def notice(make_bill):
    """Make one of Interservicios' billing notices."""

    def factory(client="100245", days=20, **values):
        return make_bill(
            tenant="interservicios",
            client=client,
            due_on=TODAY + dt.timedelta(days=days),
            concept=values.pop("concept", "Aviso de cobro aseo"),
            **values,
        )

    return factory


def open_wompi_attempt(tenant, bill, customer, **over):
    payer = {"payer_name": "Cliente", "payer_email": customer.email, "payer_ip": "127.0.0.1"}
    return services.open_attempt(
        tenant,
        [bill],
        gateway="wompi",
        description=f"Aviso de cobro {bill.client_number}",
        payer=payer,
        customer_id=customer.id,
        **over,
    )


def test_notices_newest_first_with_state_words_amounts_and_dates(
    client, customer, notice, make_bill, interservicios
):
    paid = notice(days=-10, state="paid", concept="Aviso anterior", amount_cents=4_490_000)
    unpaid = notice(days=20, concept="Aviso aseo", amount_cents=4_630_000)
    pending = notice(client="100246", days=5, concept="Aviso acueducto", amount_cents=6_125_000)
    open_wompi_attempt(interservicios, pending, customer)
    notice(client="999999", concept="Aviso de otro cliente")
    make_bill(tenant="insesp", client="100245", concept="Factura de otra empresa")
    logged_in(client)
    html = client.get(f"{BASE}/avisos").get_data(as_text=True)
    assert "Aviso de otro cliente" not in html and "Factura de otra empresa" not in html
    words = re.findall(r"Estado: <strong>([^<]+)</strong>", html)
    assert words == ["No Pagado", "Pago pendiente", "Pagado"]
    assert html.index("Aviso aseo") < html.index("Aviso acueducto") < html.index("Aviso anterior")
    assert "$ 46.300" in html and "$ 61.250" in html and "$ 44.900" in html
    assert f"Vencimiento: {unpaid.due_on:%d/%m/%Y}" in html
    assert f"Vencimiento: {paid.due_on:%d/%m/%Y}" in html
    assert f'href="{BASE}/avisos/{unpaid.id}"' in html


def test_filter_shows_only_no_pagado_as_page_and_fragment(client, customer, notice, interservicios):
    notice(state="paid", concept="Aviso pagado")
    notice(concept="Aviso por pagar")
    pending = notice(concept="Aviso en proceso")
    open_wompi_attempt(interservicios, pending, customer)
    logged_in(client)
    page = client.get(f"{BASE}/avisos?estado=no-pagado").get_data(as_text=True)
    assert "Aviso por pagar" in page
    assert "Aviso pagado" not in page and "Aviso en proceso" not in page
    assert 'aria-current="page">Solo «No Pagado»</a>' in page
    fragment = client.get(f"{BASE}/avisos?estado=no-pagado", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and '<section id="avisos"' in html and "Aviso por pagar" in html
    assert "HX-Request" in fragment.headers.get("Vary", "")
    everything = client.get(f"{BASE}/avisos").get_data(as_text=True)
    assert "Aviso pagado" in everything and "Aviso en proceso" in everything


def test_the_list_reads_the_customer_then_their_notices(client, customer, notice):
    """Two statements: the login check reads the customer alone; the notices' query finds
    their client numbers itself. A filter leaving no notice still knows they have numbers."""
    from sqlalchemy import event

    notice(concept="Aviso por pagar")
    logged_in(client)
    seen = []
    with client.application.app_context():
        engine = db.engine
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        html = client.get(f"{BASE}/avisos").get_data(as_text=True)
        reads = [q for q in seen if q.split(None, 1)[0] != "BEGIN"]  # SQLite's own BEGIN
        filtered = client.get(f"{BASE}/avisos?estado=no-pagado&x=1").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert "Aviso por pagar" in html
    assert [q.split(None, 1)[0] for q in reads] == ["SELECT", "SELECT"], reads
    assert "customer_clients" not in reads[0] and "customer_clients" in reads[1]
    assert "aún no tiene números de cliente asociados" not in filtered


def test_customer_without_client_numbers_is_told_what_to_do(client, app):
    make_customer(email="nuevo@interservicios.test", clients=())
    logged_in(client, email="nuevo@interservicios.test")
    html = client.get(f"{BASE}/avisos").get_data(as_text=True)
    assert "aún no tiene números de cliente asociados" in html and "601 745 8800" in html


def test_no_pagado_detail_has_terms_method_and_pay_button(client, customer, notice):
    bill = notice(amount_cents=4_630_000, vat_cents=0)
    logged_in(client)
    response = client.get(f"{BASE}/avisos/{bill.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for label in ("Total a pagar", "Concepto", "Número de cliente", "Vencimiento", "Total IVA"):
        assert f"<dt>{label}</dt>" in html
    assert "Estado: <strong>No Pagado</strong>" in html and "$ 46.300" in html
    assert 'href="/interservicios/clientes/terminos"' in html  # the tenant's terms_url
    assert 'type="checkbox"' in html and "Acepto los términos y condiciones" in html
    assert "<legend>Método de pago</legend>" in html
    assert re.search(
        r'<input checked id="metodo-0" name="metodo" required type="radio" value="wompi">', html
    )
    assert f'action="{BASE}/avisos/{bill.id}/pagar"' in html
    assert ">Pagar con Wompi</button>" in html
    assert "style=" not in html and "<script>" not in html


def test_terms_page_exists_where_the_tenant_file_says(client, interservicios):
    assert interservicios.terms_url == f"{BASE}/terminos"
    html = client.get(interservicios.terms_url).get_data(as_text=True)
    assert "Términos y condiciones" in html and "INTERSERVICIOS S.A.S. E.S.P." in html


def test_pending_notice_shows_the_pending_rule_and_no_pay_button(
    client, customer, notice, interservicios
):
    bill = notice()
    attempt = open_wompi_attempt(interservicios, bill, customer)
    services.apply_answer(attempt, answer(attempt, txn_id="1234-1-9"), "payer")
    logged_in(client)
    html = client.get(f"{BASE}/avisos/{bill.id}").get_data(as_text=True)
    assert "Estado: <strong>Pago pendiente</strong>" in html
    assert "PENDIENTE de recibir confirmación" in html and attempt.reference in html
    assert "Pagar con Wompi" not in html


def test_paid_notice_links_its_receipt(client, customer, notice, interservicios):
    bill = notice()
    attempt = open_wompi_attempt(interservicios, bill, customer)
    services.apply_answer(attempt, answer(attempt, "APPROVED", txn_id="1234-1-8"), "payer")
    logged_in(client)
    html = client.get(f"{BASE}/avisos/{bill.id}").get_data(as_text=True)
    assert "Estado: <strong>Pagado</strong>" in html and "ya está pagado" in html
    assert f'href="/interservicios/pagos/{attempt.reference}">Ver comprobante' in html
    assert "Pagar con Wompi" not in html


def test_overdue_notice_cannot_be_paid_online(client, customer, notice):
    bill = notice(days=-3)
    logged_in(client)
    html = client.get(f"{BASE}/avisos/{bill.id}").get_data(as_text=True)
    assert "(vencido)" in html and "ya no se puede pagar en línea" in html
    assert "Pagar con Wompi" not in html


# --- another customer's or tenant's notice is "not found", on every route ------------------

ROUTES = [
    ("get", "/interservicios/clientes/avisos/{id}"),
    ("get", "/interservicios/clientes/avisos/{id}/pagar"),
    ("post", "/interservicios/clientes/avisos/{id}/pagar"),
]


@pytest.mark.parametrize("owner", ["other_customer", "other_tenant", "unlinked", "missing"])
@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_someone_elses_notice_is_not_found(
    client, customer, notice, make_bill, owner, method, route
):
    if owner == "other_customer":
        make_customer(email="otro@interservicios.test", clients=("200300",))
        bill_id = notice(client="200300").id
    elif owner == "other_tenant":
        bill_id = make_bill(tenant="insesp", client="100245").id  # same client number
    elif owner == "unlinked":
        bill_id = notice(client="555").id
    else:
        bill_id = 999_999
    logged_in(client)
    url = route.format(id=bill_id)
    if method == "post":
        data = {
            "acepta_terminos": "y",
            "metodo": "wompi",
            "csrf_token": token_for(client, BASE + "/"),
        }
        response = client.post(url, data=data)
    else:
        response = client.get(url)
    assert response.status_code == 404
    assert "Página no encontrada" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PaymentAttempt)) == 0


@pytest.mark.parametrize(
    "path",
    ["/avisos", "/avisos/1", "/avisos/1/pagar", "/pagos", "/pagos/GPABC/continuar"],
)
def test_customer_pages_need_a_login(client, path):
    response = client.get(BASE + path)
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{BASE}/entrar?next=")


def test_client_area_does_not_exist_for_a_tenant_without_accounts(client):
    assert client.get("/insesp/clientes/").status_code == 404
    assert client.get("/insesp/clientes/avisos").status_code == 404


# --- Mis pagos ----------------------------------------------------------------------------


def test_my_payments_lists_own_attempts_newest_first_with_receipts(
    client, customer, notice, interservicios
):
    first = open_wompi_attempt(interservicios, notice(concept="Primero"), customer)
    services.apply_answer(first, answer(first, "DECLINED", txn_id="1234-1-1"), "event")
    second = open_wompi_attempt(interservicios, notice(concept="Segundo"), customer)
    services.apply_answer(second, answer(second, "APPROVED", txn_id="1234-1-2"), "event")
    stranger = make_customer(email="otro@interservicios.test", clients=("200300",))
    theirs = open_wompi_attempt(interservicios, notice(client="200300"), stranger)
    logged_in(client)
    html = client.get(f"{BASE}/pagos").get_data(as_text=True)
    assert theirs.reference not in html
    assert html.index(second.reference) < html.index(first.reference)
    assert "<dd>Aprobada</dd>" in html and "<dd>Rechazada</dd>" in html
    for attempt in (first, second):
        assert f'href="/interservicios/pagos/{attempt.reference}"' in html
    assert "data-print" in html and ">Imprimir</button>" in html


def test_my_payments_when_there_are_none(client, customer):
    logged_in(client)
    assert "Aún no tiene pagos en línea" in client.get(f"{BASE}/pagos").get_data(as_text=True)


def test_receipt_of_another_customers_payment_is_not_found(
    client, customer, notice, interservicios, mocked
):
    stranger = make_customer(email="otro@interservicios.test", clients=("200300",))
    theirs = open_wompi_attempt(interservicios, notice(client="200300"), stranger)
    logged_in(client)
    assert client.get(f"/interservicios/pagos/{theirs.reference}").status_code == 404
    response = client.application.test_client().get(f"/interservicios/pagos/{theirs.reference}")
    assert response.status_code == 303 and "/clientes/entrar?next=" in response.headers["Location"]
