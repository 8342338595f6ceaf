"""The Insesp PSE flow through the views, with Wompi's API answered by `responses`."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import requests
import responses
from sqlalchemy import select

from gaspay.billing.services import bill_token
from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments import transitions as T
from gaspay.payments.models import BillHold, PaymentAttempt
from gaspay.timeutil import as_utc, utcnow
from tests import fakes
from tests.conftest import csrf_from
from tests.payments_helpers import answer, let_checks_through, payer_url, pending_attempt

TXN = "1234-1700000000-00001"
BANK_URL = "https://registro.pse.test/PSENF/index.html?enc=abc"


@pytest.fixture
def gateway(mocked, insesp):
    """Merchant terms and the bank list, as every flow needs them."""
    mocked.get(
        f"{fakes.API}/merchants/{insesp.wompi.public_key}",
        json=fakes.merchant(insesp.wompi.public_key),
    )
    mocked.get(f"{fakes.API}/pse/financial_institutions", json=fakes.BANKS)
    return mocked


@pytest.fixture
def bill(make_bill):
    return make_bill()


@pytest.fixture
def step_url(app, bill, insesp):
    with app.test_request_context():
        return f"/insesp/pse/pagar?factura={bill_token(insesp, bill)}"


def form_data(client, step_url, **over):
    page = client.get(step_url).get_data(as_text=True)
    token = re.search(r'name="factura" type="hidden" value="([^"]+)"', page)
    data = {
        "csrf_token": csrf_from(page),
        "factura": token.group(1),
        "tipo_cliente": "0",
        "banco": "1007",
        "tipo_documento": "CC",
        "documento": "1099888777",
        "nombre": "Usuario Demo",
        "email": "usuario.demo@correo.test",
        "telefono": "3001234567",
        "acepta_terminos": "y",
        "acepta_datos": "y",
    }
    data.update(over)
    return data


def only_attempt():
    return db.session.scalars(select(PaymentAttempt)).one()


def created_transactions(mocked):
    return [c for c in mocked.calls if c.request.method == "POST"]


def test_bank_step_shows_the_seed_labels_and_bank_list(client, gateway, step_url):
    html = client.get(step_url).get_data(as_text=True)
    assert "Pago PSE - débito desde su cuenta corriente o de ahorros" in html
    assert "Tipo Cliente" in html and "Persona" in html and "Empresa" in html
    assert "Clic para continuar con el pago" in html
    options = re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)<', html)
    assert options[0] == ("", "A continuación seleccione su banco")
    assert ("1007", "BANCOLOMBIA") in options and ("0", "A continuación...") not in options
    assert "http://sandbox.test/terminos.pdf" in html and "http://sandbox.test/datos.pdf" in html
    # A client number is all it takes to get here: the bill's contact shows masked, as text,
    # and the fields are left for what the payer types (nothing to send back and unmask).
    assert "us**********@co****.test" in html and "***2050" in html
    assert "usuario.demo@correo.test" not in html and "6472050" not in html
    for name in ("email", "telefono"):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
        assert 'value=""' in tag or "value=" not in tag


def test_empty_contact_fields_pay_with_the_bills_contact_shown_masked(client, gateway, step_url):
    data = form_data(client, step_url, email="", telefono="")
    response = client.post("/insesp/pse/pagar", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    [create] = created_transactions(gateway)
    body = json.loads(create.request.body)
    # The server fills what the gateway needs from the bill.
    assert body["customer_email"] == "usuario.demo@correo.test"
    assert body["customer_data"]["phone_number"] == "6472050"
    attempt = only_attempt()
    assert (attempt.payer_email, attempt.payer_email_source) == ("usuario.demo@correo.test", "bill")
    # Even the browser that started the payment never sees a value it did not type.
    html = client.get(f"/insesp/pagos/{attempt.reference}").get_data(as_text=True)
    assert "Usuario Demo" in html and "us**********@co****.test" in html
    assert "usuario.demo@correo.test" not in html


def test_a_form_sent_back_with_errors_never_shows_the_bills_contact(
    client, gateway, make_bill, insesp, app
):
    bill = make_bill(email="titular@correo.test", phone="+57 310 456 7890")
    with app.test_request_context():
        url = f"/insesp/pse/pagar?factura={bill_token(insesp, bill)}"
    for email, phone in (("", ""), ("ti*****@co****.test", "***7890")):
        data = form_data(client, url, email=email, telefono=phone, documento="")
        response = client.post("/insesp/pse/pagar", data=data)
        html = response.get_data(as_text=True)
        assert response.status_code == 422 and "Escriba el número de documento del titular" in html
        for real in ("titular@correo.test", "3104567890", "310 456 7890", "+57 310 456 7890"):
            assert real not in html
    assert created_transactions(gateway) == []


def test_a_bill_without_contact_data_requires_both_fields(client, gateway, make_bill, insesp, app):
    bill = make_bill(email=None, phone=None)
    with app.test_request_context():
        url = f"/insesp/pse/pagar?factura={bill_token(insesp, bill)}"
    response = client.post("/insesp/pse/pagar", data=form_data(client, url, email="", telefono=""))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Escriba su correo electrónico para recibir el comprobante." in html
    assert "Escriba un teléfono de contacto." in html
    assert created_transactions(gateway) == []


def test_a_masked_value_that_is_not_the_bills_is_refused(client, gateway, step_url):
    data = form_data(client, step_url, email="ot**@co****.test", telefono="***9999")
    response = client.post("/insesp/pse/pagar", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Escriba su correo electrónico completo, sin asteriscos." in html
    assert "Escriba un teléfono de 7 a 10 dígitos" in html
    assert created_transactions(gateway) == []


def test_bank_list_is_cached(client, gateway, step_url):
    client.get(step_url)
    client.get(step_url)
    bank_calls = [c for c in gateway.calls if "financial_institutions" in c.request.url]
    assert len(bank_calls) == 1


def test_bank_list_unavailable_says_so(client, mocked, insesp, step_url):
    mocked.get(f"{fakes.API}/pse/financial_institutions", status=503)
    mocked.get(
        f"{fakes.API}/merchants/{insesp.wompi.public_key}",
        json=fakes.merchant(insesp.wompi.public_key),
    )
    response = client.get(step_url)
    assert response.status_code == 503
    assert "No se pudo obtener la lista de Entidades Financieras" in response.get_data(as_text=True)


def test_stale_bank_list_is_kept_when_the_gateway_fails(app, client, mocked, insesp, step_url):
    app.config["BANK_LIST_TTL_SECONDS"] = 0
    mocked.get(
        f"{fakes.API}/merchants/{insesp.wompi.public_key}",
        json=fakes.merchant(insesp.wompi.public_key),
    )
    mocked.get(f"{fakes.API}/pse/financial_institutions", json=fakes.BANKS)
    client.get(step_url)
    mocked.replace(responses.GET, f"{fakes.API}/pse/financial_institutions", status=500)
    response = client.get(step_url)
    assert response.status_code == 200 and "BANCOLOMBIA" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"banco": ""}, "Seleccione su banco de la lista."),
        ({"banco": "0"}, "Seleccione su banco de la lista."),
        ({"banco": "9999"}, "Seleccione su banco de la lista."),
        ({"tipo_cliente": "1"}, "Para pagos de empresa el documento debe ser NIT."),
        ({"tipo_documento": "NIT"}, "Para personas use cédula"),
        ({"documento": "12ab"}, "Escriba solo los números del documento"),
        ({"email": "no-es-correo"}, "Escriba un correo electrónico válido"),
        ({"telefono": "12"}, "Escriba un teléfono de 7 a 10 dígitos"),
        ({"acepta_terminos": ""}, "Debe aceptar los términos y condiciones"),
        ({"acepta_datos": ""}, "Debe autorizar el tratamiento de sus datos personales"),
    ],
)
def test_invalid_input_is_explained_and_nothing_is_sent(client, gateway, step_url, over, message):
    response = client.post("/insesp/pse/pagar", data=form_data(client, step_url, **over))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert created_transactions(gateway) == []
    assert db.session.scalars(select(PaymentAttempt)).first() is None


def register_creation(mocked, *, polls=2):
    mocked.post(
        f"{fakes.API}/transactions",
        status=201,
        json={"data": fakes.transaction(txn_id=TXN, reference="WILL-MATCH")},
    )
    return mocked


def _echo_reference(mocked, status="PENDING", url=BANK_URL, polls_without_url=1):
    """Creation and status answers that echo the reference our server sent."""
    state = {"reference": None, "polls": 0}

    def create(request):
        body = json.loads(request.body)
        state["reference"] = body["reference"]
        return (
            201,
            {},
            json.dumps(
                {
                    "data": fakes.transaction(
                        txn_id=TXN, reference=body["reference"], amount=body["amount_in_cents"]
                    )
                }
            ),
        )

    def status_answer(request):
        state["polls"] += 1
        link = url if state["polls"] > polls_without_url else None
        return (
            200,
            {},
            json.dumps(
                {
                    "data": fakes.transaction(
                        txn_id=TXN, reference=state["reference"], status=status, url=link
                    )
                }
            ),
        )

    mocked.add_callback(responses.POST, f"{fakes.API}/transactions", callback=create)
    mocked.add_callback(responses.GET, f"{fakes.API}/transactions/{TXN}", callback=status_answer)
    return state


def test_valid_payment_goes_to_the_bank(client, gateway, step_url, bill):
    state = _echo_reference(gateway)
    response = client.post("/insesp/pse/pagar", data=form_data(client, step_url))
    assert response.status_code == 303 and response.headers["Location"] == BANK_URL
    attempt = only_attempt()
    assert attempt.reference == state["reference"] and attempt.status == T.PENDING
    assert attempt.gateway_txn_id == TXN and attempt.redirect_url == BANK_URL
    assert attempt.payer_ip == "127.0.0.1" and attempt.bank_name == "BANCOLOMBIA"
    body = json.loads(created_transactions(gateway)[0].request.body)
    assert body["acceptance_token"] == "tok-accept"
    assert body["accept_personal_auth"] == "tok-personal"
    assert body["payment_method"]["financial_institution_code"] == "1007"
    assert body["redirect_url"].endswith(f"/insesp/pagos/{attempt.reference}")
    assert db.session.get(BillHold, bill.id).attempt_id == attempt.id


def test_htmx_payment_redirects_with_hx_redirect(client, gateway, step_url):
    _echo_reference(gateway)
    response = client.post(
        "/insesp/pse/pagar", data=form_data(client, step_url), headers={"HX-Request": "true"}
    )
    assert response.headers["HX-Redirect"] == BANK_URL


def test_gateway_refusal_fails_the_attempt_and_frees_the_bill(client, gateway, step_url, bill):
    gateway.post(
        f"{fakes.API}/transactions",
        status=422,
        json={
            "error": {
                "type": "INPUT_VALIDATION_ERROR",
                "messages": {"customer_email": ["Formato inválido"]},
            }
        },
    )
    response = client.post("/insesp/pse/pagar", data=form_data(client, step_url))
    assert response.status_code == 422
    assert "La pasarela de pagos rechazó la solicitud" in response.get_data(as_text=True)
    attempt = only_attempt()
    assert attempt.status == T.FAILED
    assert db.session.get(BillHold, bill.id) is None


@pytest.mark.parametrize("failure", ["timeout", "500", "garbage", "connection"])
def test_unknown_creation_outcome_leaves_the_attempt_open(client, gateway, step_url, failure):
    url = f"{fakes.API}/transactions"
    if failure == "timeout":
        gateway.post(url, body=requests.exceptions.ReadTimeout("slow"))
    elif failure == "connection":
        gateway.post(url, body=requests.exceptions.ConnectionError("reset"))
    elif failure == "500":
        gateway.post(url, status=500, json={"error": "boom"})
    else:
        gateway.post(url, status=201, body="<html>not json")
    response = client.post("/insesp/pse/pagar", data=form_data(client, step_url))
    attempt = only_attempt()
    assert attempt.status == T.CREATED  # never failed or paid on a guess
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/insesp/pagos/{attempt.reference}")


@pytest.mark.parametrize("minutes", [7, 9])
def test_first_check_comes_the_configured_minutes_after_the_redirect(
    client, app, gateway, step_url, minutes
):
    """PlacetoPay's rule (pse.md): the job first asks 7 minutes after the payer left for the
    bank (RECONCILE_FIRST_DELAY_MINUTES), counted from the redirect, not from the click."""
    app.config["RECONCILE_FIRST_DELAY_MINUTES"] = minutes
    _echo_reference(gateway, polls_without_url=2)
    before = utcnow()
    response = client.post("/insesp/pse/pagar", data=form_data(client, step_url))
    after = utcnow()
    assert response.status_code == 303 and response.headers["Location"] == BANK_URL
    attempt = only_attempt()
    redirected = attempt.redirected_at.replace(tzinfo=dt.UTC)
    assert before <= redirected <= after
    assert as_utc(attempt.created_at) <= redirected
    wait = attempt.next_check_at.replace(tzinfo=dt.UTC) - redirected
    assert wait == dt.timedelta(minutes=minutes)


def test_missing_bank_url_leaves_it_pending_and_says_so(client, gateway, step_url):
    _echo_reference(gateway, url=None)
    response = client.post("/insesp/pse/pagar", data=form_data(client, step_url))
    attempt = only_attempt()
    assert attempt.status == T.PENDING and attempt.redirect_url is None
    result = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "PENDIENTE" in result and "No intente pagar de nuevo" in result


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refused_bank_link_poll_leaves_it_pending_and_says_so(client, gateway, step_url, status):
    """The creation went through; the gateway then refuses the status query: the payer reads
    our pending page (not an error page) and the job asks again later."""
    _echo_reference(gateway)
    gateway.replace(
        responses.GET,
        f"{fakes.API}/transactions/{TXN}",
        status=status,
        json={"error": {"type": "NOT_FOUND_ERROR", "reason": "refused"}},
    )
    response = client.post("/insesp/pse/pagar", data=form_data(client, step_url))
    assert response.status_code == 303
    attempt = only_attempt()
    assert attempt.status == T.PENDING and attempt.redirect_url is None
    result = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "PENDIENTE" in result and "No intente pagar de nuevo" in result


def test_pending_rule_on_lookup_and_on_pay(client, insesp, csrf, bill, step_url, gateway):
    attempt = pending_attempt(insesp, bill)
    services.apply_answer(attempt, answer(attempt, "PENDING", cus="2233445"), "event")
    with services.write_unit():
        db.session.get(PaymentAttempt, attempt.id).cus = "2233445"
    html = client.post("/insesp/factura", data={"numero": "21053", "csrf_token": csrf()}).get_data(
        as_text=True
    )
    rule = (
        f"En este momento su referencia <strong>{attempt.reference}</strong> presenta un "
        "proceso de pago cuya transacción se encuentra PENDIENTE"
    )
    assert rule in html and "314 2030 301" in html and "atencion@insesp.test" in html
    # The CUS is the payer's (outside review, point 1): a stranger reads the reference instead.
    assert "2233445" not in html and f"transacción: referencia {attempt.reference}" in html
    client.get(payer_url(attempt))  # the payer's own browser
    html = client.post("/insesp/factura", data={"numero": "21053", "csrf_token": csrf()}).get_data(
        as_text=True
    )
    assert "estado de la transacción: 2233445" in html
    page = client.get(step_url)
    assert page.status_code == 409 and "PENDIENTE" in page.get_data(as_text=True)
    assert "Clic para continuar con el pago" not in page.get_data(as_text=True)


def test_approved_bill_says_paid_with_cus(client, insesp, make_bill, csrf):
    bill = make_bill(client="777")
    attempt = pending_attempt(insesp, bill)
    services.apply_answer(attempt, answer(attempt, "APPROVED", cus="99887766"), "event")
    html = client.post("/insesp/factura", data={"numero": "777", "csrf_token": csrf()}).get_data(
        as_text=True
    )
    assert "Esta factura ya fue pagada" in html and "99887766" not in html  # a stranger
    assert "Pagar $" not in html
    client.get(payer_url(attempt))  # the payer's own browser sees the CUS
    html = client.post("/insesp/factura", data={"numero": "777", "csrf_token": csrf()}).get_data(
        as_text=True
    )
    assert "Esta factura ya fue pagada" in html and "99887766" in html


def test_return_url_alone_never_marks_paid(client, mocked, insesp, make_bill):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    mocked.get(
        f"{fakes.API}/transactions/{TXN}",
        json={"data": fakes.transaction(txn_id=TXN, reference=attempt.reference)},
    )
    html = client.get(f"/insesp/pagos/{attempt.reference}?id={TXN}").get_data(as_text=True)
    assert "Transacción Pendiente" in html and 'data-poll="' in html  # refreshed by app.js
    assert db.session.get(PaymentAttempt, attempt.id).status == T.PENDING


def test_return_reads_the_gateway_and_shows_the_receipt(client, mocked, insesp, make_bill):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    mocked.get(
        f"{fakes.API}/transactions/{TXN}",
        json={
            "data": fakes.transaction(
                txn_id=TXN, reference=attempt.reference, status="APPROVED", cus="55443322"
            )
        },
    )
    html = client.get(payer_url(attempt, f"id={TXN}")).get_data(as_text=True)
    assert "Transacción Aprobada" in html and "55443322" in html
    for fact in (
        "800.123.456-1",
        "INGENIERIA Y SERVICIOS SOCIEDAD ANONIMA",
        "$ 18.000",
        attempt.reference,
        "Imprimir",
        "314 2030 301",
        "127.0.0.1",
    ):
        assert fact in html
    assert "every 3s" not in html and "Reintentar" not in html


def test_return_with_another_transaction_id_is_ignored(client, mocked, insesp, make_bill):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    mocked.get(
        f"{fakes.API}/transactions/9-9-9",
        json={
            "data": fakes.transaction(txn_id="9-9-9", reference="GPSOMEONEELS", status="APPROVED")
        },
    )
    client.get(f"/insesp/pagos/{attempt.reference}?id=9-9-9")
    assert db.session.get(PaymentAttempt, attempt.id).status == T.PENDING


def test_decline_offers_a_retry_to_the_bank_step(client, mocked, insesp, make_bill, gateway):
    attempt = pending_attempt(insesp, make_bill(), txn_id=TXN)
    mocked.get(
        f"{fakes.API}/transactions/{TXN}",
        json={
            "data": fakes.transaction(txn_id=TXN, reference=attempt.reference, status="DECLINED")
        },
    )
    html = client.get(payer_url(attempt, f"id={TXN}")).get_data(as_text=True)
    assert "Transacción Rechazada" in html and "No se realizó ningún cobro" in html
    retry = re.search(r'href="([^"]+)">Reintentar', html).group(1).replace("&amp;", "&")
    assert "Clic para continuar con el pago" in client.get(retry).get_data(as_text=True)


def test_unknown_reference_is_404(client):
    assert client.get("/insesp/pagos/GPNOTHING000").status_code == 404


def test_attempt_of_another_tenant_is_404(client, make_bill, interservicios):
    bill = make_bill(tenant="interservicios", client="100245")
    attempt = pending_attempt(interservicios, bill)
    assert client.get(f"/insesp/pagos/{attempt.reference}").status_code == 404


def test_payer_stranded_without_bank_url_gets_it_on_the_result_page(client, gateway, step_url):
    state = _echo_reference(gateway, url=None)
    response = client.post("/insesp/pse/pagar", data=form_data(client, step_url))
    attempt = only_attempt()
    assert "Continuar al banco" not in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    gateway.replace(
        responses.GET,
        f"{fakes.API}/transactions/{TXN}",
        json={"data": fakes.transaction(txn_id=TXN, reference=state["reference"], url=BANK_URL)},
    )
    let_checks_through(attempt)
    html = client.get(f"/insesp/pagos/{attempt.reference}?id={TXN}").get_data(as_text=True)
    assert f'href="{BANK_URL.replace("&", "&amp;")}">Continuar al banco' in html
