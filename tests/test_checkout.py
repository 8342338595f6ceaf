"""Paying a notice through Wompi's Web Checkout: the recorded attempt, the signed GET form,
the return page's checks, events, and a checkout retry that declines then approves."""

from __future__ import annotations

import datetime as dt
import hashlib
import html as htmllib
import json
import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from sqlalchemy import select, update

from gaspay.billing.models import PAID, UNPAID, Bill
from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments import transitions as T
from gaspay.payments.checkout import Payer as CheckoutPayer
from gaspay.payments.checkout import iso_utc, wompi_checkout
from gaspay.payments.models import BillHold, PaymentAttempt
from gaspay.sandbox import store
from gaspay.timeutil import utcnow
from tests import fakes
from tests.conftest import csrf_from
from tests.payments_helpers import answer, let_checks_through, post_event
from tests.test_accounts import BASE, logged_in, make_customer, token_for

CHECKOUT_URL = "http://sandbox.test/sandbox/wompi/checkout/p/"
FORM_RE = re.compile(r'<form method="get" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
EXPIRATION_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SUCCESS = "¡Pago realizado con éxito!"


@pytest.fixture
def client(make_app, app):
    """Own app object, so `g` is fresh for every request (see tests/test_accounts.py)."""
    return make_app().test_client()


@pytest.fixture
def customer(app):
    return make_customer(clients=("100245",))


@pytest.fixture
def bill(make_bill):
    return make_bill(tenant="interservicios", client="100245", amount_cents=4_630_000)


@pytest.fixture(autouse=True)
def clean_sandbox():
    store.reset()
    yield
    store.reset()


def pay(client, bill, **fields):
    data = {
        "acepta_terminos": "y",
        "metodo": "wompi",
        "csrf_token": token_for(client, f"{BASE}/avisos/{bill.id}"),
        **fields,
    }
    return client.post(f"{BASE}/avisos/{bill.id}/pagar", data=data)


def attempts() -> list[PaymentAttempt]:
    db.session.rollback()  # see what the requests committed
    return list(db.session.scalars(select(PaymentAttempt).order_by(PaymentAttempt.id)))


def bill_state(bill) -> str:
    db.session.rollback()
    return db.session.get(Bill, bill.id, populate_existing=True).state


def handoff_form(html: str) -> tuple[str, dict[str, str]]:
    match = FORM_RE.search(html)
    assert match, html
    fields = {name: htmllib.unescape(value) for name, value in HIDDEN_RE.findall(match.group(2))}
    return htmllib.unescape(match.group(1)), fields


def start(client, bill) -> tuple[PaymentAttempt, dict[str, str]]:
    """Log in, press "Pagar con Wompi", open the hand-off page: the attempt and the form."""
    logged_in(client)
    response = pay(client, bill)
    assert response.status_code == 303, response.get_data(as_text=True)
    [attempt] = attempts()
    assert response.headers["Location"] == f"{BASE}/pagos/{attempt.reference}/continuar"
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    action, fields = handoff_form(page.get_data(as_text=True))
    assert action == CHECKOUT_URL
    return attempt, fields


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def result(client, reference, txn_id=None):
    query = f"?id={txn_id}" if txn_id else ""
    return client.get(f"/interservicios/pagos/{reference}{query}").get_data(as_text=True)


def gateway_says(mocked, attempt, txn_id, status, **over):
    txn = fakes.transaction(
        txn_id=txn_id,
        status=status,
        reference=over.pop("reference", attempt.reference),
        amount=over.pop("amount", attempt.amount_cents),
        method="CARD",
        **over,
    )
    mocked.get(f"{fakes.API}/transactions/{txn_id}", json={"data": txn, "meta": {}})
    return txn


def send_event(client, tenant, txn):
    """Deliver a signed event; the same transaction gives the same bytes (a redelivery)."""
    body, headers = fakes.event(txn, tenant.wompi.events_secret, timestamp=1_795_000_000)
    response, outcome = post_event(
        client, "/interservicios/webhooks/wompi", data=body, headers=headers
    )
    assert response.status_code == 200
    return outcome


# --- the pay step -----------------------------------------------------------------------------


def test_terms_must_be_accepted_and_nothing_is_recorded(client, customer, bill):
    logged_in(client)
    response = pay(client, bill, acepta_terminos="")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Debe aceptar los términos y condiciones para pagar." in html
    assert 'aria-describedby="terminos-error"' in html
    tampered = pay(client, bill, metodo="paypal")
    assert tampered.status_code == 422
    assert "Seleccione uno de los métodos de pago de la lista." in tampered.text
    assert attempts() == []


def test_pressing_pay_records_the_attempt_before_leaving(client, customer, bill, interservicios):
    attempt, _ = start(client, bill)
    assert attempt.status == T.CREATED and attempt.gateway == "wompi"
    assert attempt.amount_cents == 4_630_000 and attempt.currency == "COP"
    assert attempt.customer_id == customer.id and attempt.payer_email == customer.email
    assert attempt.payer_ip == "127.0.0.1" and attempt.description == "Aviso de cobro 100245"
    assert attempt.redirected_at is not None and attempt.next_check_at is not None
    assert db.session.get(BillHold, bill.id).attempt_id == attempt.id


def test_handoff_is_a_get_form_signed_like_wompi_says(client, customer, bill, interservicios):
    attempt, fields = start(client, bill)
    account = interservicios.wompi
    assert set(fields) == {
        "public-key",
        "currency",
        "amount-in-cents",
        "reference",
        "signature:integrity",
        "expiration-time",
        "redirect-url",
        "customer-data:email",
        "customer-data:full-name",
    }
    assert fields["public-key"] == account.public_key
    assert fields["currency"] == "COP"
    assert fields["amount-in-cents"] == "4630000"  # $ 46.300 x 100
    assert fields["reference"] == attempt.reference
    assert fields["redirect-url"] == f"http://localhost/interservicios/pagos/{attempt.reference}"
    assert fields["customer-data:email"] == customer.email
    assert fields["customer-data:full-name"] == "Cliente"
    expiration = fields["expiration-time"]
    assert EXPIRATION_RE.match(expiration)
    moment = dt.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    assert dt.timedelta(minutes=29) < moment - utcnow() <= dt.timedelta(minutes=30)
    # Independent of gaspay.gateways.wompi: the formula of docs/wompi.md, by hand.
    expected = sha256(f"{attempt.reference}4630000COP{expiration}{account.integrity_secret}")
    assert fields["signature:integrity"] == expected


def test_the_form_is_the_same_when_shown_again(client, customer, bill):
    attempt, fields = start(client, bill)
    again = client.get(f"{BASE}/pagos/{attempt.reference}/continuar").get_data(as_text=True)
    assert handoff_form(again)[1] == fields


def test_handoff_page_has_a_button_and_no_script(client, customer, bill):
    logged_in(client)
    location = pay(client, bill).headers["Location"]
    html = client.get(location).get_data(as_text=True)
    assert '<form method="get" action="http://sandbox.test/sandbox/wompi/checkout/p/"' in html
    assert ">Pagar con Wompi</button>" in html
    assert "<script>" not in html and "style=" not in html


def test_the_emulated_web_checkout_accepts_the_form(client, customer, bill):
    _, fields = start(client, bill)
    page = client.get("/sandbox/wompi/checkout/p/", query_string=fields)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert "$ 46.300" in page.get_data(as_text=True)


def test_signature_unit_against_an_independent_computation(app):
    attempt = SimpleNamespace(
        reference="GP23456789AB",
        amount_cents=1_800_000,
        currency="COP",
        created_at=dt.datetime(2026, 11, 22, 19, 58, 50, 123456, tzinfo=dt.UTC),
        bills=[],
    )
    tenant = SimpleNamespace(
        wompi=SimpleNamespace(
            public_key="pub_test_x",
            integrity_secret="test_integrity_abc",
            checkout_url="https://checkout.wompi.co/p/",
        )
    )
    form = wompi_checkout(
        tenant,
        attempt,
        redirect_url="https://pagos.example.co/interservicios/pagos/GP23456789AB",
        payer=CheckoutPayer(email="a@b.co", full_name="Ana", phone="300 123 4567"),
    )
    assert form.method == "get" and form.action == "https://checkout.wompi.co/p/"
    assert form.field("expiration-time") == "2026-11-22T20:28:50.123Z"
    raw = "GP23456789AB1800000COP2026-11-22T20:28:50.123Ztest_integrity_abc"
    assert form.field("signature:integrity") == hashlib.sha256(raw.encode()).hexdigest()
    assert form.field("customer-data:phone-number") == "3001234567"
    assert form.field("customer-data:phone-number-prefix") == "+57"
    assert iso_utc(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "2026-01-02T03:04:05.000Z"


def test_vat_is_sent_as_information_when_the_notice_has_it(client, customer, make_bill):
    bill = make_bill(
        tenant="interservicios", client="100245", amount_cents=5_500_000, vat_cents=878_200
    )
    _, fields = start(client, bill)
    assert fields["tax-in-cents:vat"] == "878200" and fields["amount-in-cents"] == "5500000"


def test_no_secret_reaches_any_page(client, customer, bill, interservicios, mocked):
    account = interservicios.wompi
    secrets = (account.private_key, account.integrity_secret, account.events_secret)
    attempt, _ = start(client, bill)
    gateway_says(mocked, attempt, "1234-1-1", "PENDING")
    pages = [
        f"{BASE}/",
        f"{BASE}/avisos",
        f"{BASE}/avisos/{bill.id}",
        f"{BASE}/pagos",
        f"{BASE}/pagos/{attempt.reference}/continuar",
        f"/interservicios/pagos/{attempt.reference}?id=1234-1-1",
        f"{BASE}/entrar",
    ]
    for url in pages:
        html = client.get(url, follow_redirects=True).get_data(as_text=True)
        assert not [s for s in secrets if s in html], url


# --- one live attempt per bill ------------------------------------------------------------------


def test_double_click_opens_one_attempt_and_one_handoff(client, customer, bill):
    logged_in(client)
    first, second = pay(client, bill), pay(client, bill)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(attempts()) == 1


def test_a_live_transaction_means_the_pending_rule(client, customer, bill, interservicios):
    held = services.open_attempt(
        interservicios,
        [bill],
        gateway="wompi",
        description="Aviso",
        payer={"payer_name": "X"},
        customer_id=customer.id,
    )
    services.apply_answer(held, answer(held, txn_id="1234-1-5"), "payer")
    logged_in(client)
    response = pay(client, bill)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "PENDIENTE de recibir confirmación" in html and held.reference in html
    assert len(attempts()) == 1


def test_a_race_lost_in_the_database_shows_the_pending_rule(
    client, customer, bill, interservicios, monkeypatch
):
    """Two servers: the notice looked free when read, but the hold was taken meanwhile."""
    stranger = make_customer(email="otro@interservicios.test", clients=("100245",))
    theirs = services.open_attempt(
        interservicios,
        [bill],
        gateway="wompi",
        description="Aviso",
        payer={"payer_name": "X"},
        customer_id=stranger.id,
    )
    monkeypatch.setattr("gaspay.accounts.notices.holding_attempts", lambda tenant, held_by: {})
    logged_in(client)
    response = pay(client, bill)
    assert response.status_code == 409 and theirs.reference in response.get_data(as_text=True)
    assert len(attempts()) == 1


def test_handoff_of_another_customer_or_tenant_is_not_found(
    client, customer, bill, interservicios, insesp, make_bill
):
    stranger = make_customer(email="otro@interservicios.test", clients=("100245",))
    payer = {"payer_name": "X"}
    theirs = services.open_attempt(
        interservicios,
        [bill],
        gateway="wompi",
        description="A",
        payer=payer,
        customer_id=stranger.id,
    )
    guest = services.open_attempt(
        insesp, [make_bill()], gateway="pse", description="B", payer=payer, customer_id=None
    )
    logged_in(client)
    for reference in (theirs.reference, guest.reference, "GPNOEXISTE", "X" * 40):
        assert client.get(f"{BASE}/pagos/{reference}/continuar").status_code == 404


def test_handoff_after_the_attempt_moved_on_goes_to_its_result(client, customer, bill):
    attempt, _ = start(client, bill)
    services.apply_answer(attempt, answer(attempt, "APPROVED", txn_id="1234-1-2"), "event")
    response = client.get(f"{BASE}/pagos/{attempt.reference}/continuar")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/interservicios/pagos/{attempt.reference}"


def change_attempt(attempt_id: int, **values) -> None:
    db.session.rollback()  # a stale SQLite snapshot cannot write
    db.session.execute(
        update(PaymentAttempt).where(PaymentAttempt.id == attempt_id).values(**values)
    )
    db.session.commit()


def _age(attempt, minutes):
    change_attempt(attempt.id, created_at=utcnow() - dt.timedelta(minutes=minutes))


def test_expired_checkout_is_not_offered_again(client, customer, bill):
    attempt, _ = start(client, bill)
    _age(attempt, 31)
    response = client.get(f"{BASE}/pagos/{attempt.reference}/continuar")
    assert response.status_code == 303 and "/interservicios/pagos/" in response.headers["Location"]


def test_coming_back_later_asks_the_gateway_before_offering_the_form(
    client, customer, bill, mocked
):
    attempt, _ = start(client, bill)
    _age(attempt, 5)
    mocked.get(f"{fakes.API}/transactions", json={"data": [], "meta": {}})
    page = client.get(f"{BASE}/avisos/{bill.id}").get_data(as_text=True)
    assert "Continuar el pago con Wompi" in page and "Pagar con Wompi</button>" not in page
    assert client.get(f"{BASE}/pagos/{attempt.reference}/continuar").status_code == 200
    assert len(mocked.calls) == 1  # nothing there yet: the same form again
    # Meanwhile the payer had started paying (PSE, pending at the bank): no second form.
    txn = fakes.transaction(txn_id="1234-1-3", reference=attempt.reference, amount=4_630_000)
    mocked.replace(responses.GET, f"{fakes.API}/transactions", json={"data": [txn], "meta": {}})
    change_attempt(attempt.id, checked_at=None)
    response = client.get(f"{BASE}/pagos/{attempt.reference}/continuar")
    assert response.status_code == 303
    assert attempts()[0].status == T.PENDING


GATEWAY_FAULTS = {
    "timeout": {"body": requests.exceptions.ReadTimeout("read timed out")},
    "500": {"status": 500, "json": {"error": "internal"}},
    "garbage": {"status": 200, "body": "<html>not json</html>"},
    "close": {"body": requests.exceptions.ConnectionError("connection reset by peer")},
}


@pytest.mark.parametrize("fault", list(GATEWAY_FAULTS))
def test_coming_back_while_the_gateway_is_down_shows_no_second_form(
    client, customer, bill, mocked, fault
):
    """The payer comes back to the hand-off (browser "back" from Wompi's page) while Wompi does
    not answer: without its word a second form could charge twice, so none is shown."""
    attempt, _ = start(client, bill)
    _age(attempt, 5)
    mocked.get(f"{fakes.API}/transactions", **GATEWAY_FAULTS[fault])
    response = client.get(f"{BASE}/pagos/{attempt.reference}/continuar")
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "no pudimos confirmar" in html and "Para no cobrarle dos veces" in html
    assert "signature:integrity" not in html and "checkout.wompi.co" not in html
    assert len(mocked.calls) >= 1
    [row] = attempts()
    assert row.status == T.CREATED  # nothing guessed
    # Once the gateway answers (nothing under the reference yet), the same form is offered.
    mocked.replace(responses.GET, f"{fakes.API}/transactions", json={"data": [], "meta": {}})
    let_checks_through(attempt)  # the hand-off asks the gateway at most every few seconds
    again = client.get(f"{BASE}/pagos/{attempt.reference}/continuar")
    assert again.status_code == 200 and "signature:integrity" in again.get_data(as_text=True)


# --- the return page (?id=) -------------------------------------------------------------------


def test_the_handoff_asks_the_gateway_at_most_every_few_seconds(client, customer, bill, mocked):
    """Reloading the hand-off over and over does not hammer the gateway (fails closed)."""
    attempt, _ = start(client, bill)
    _age(attempt, 5)
    mocked.get(f"{fakes.API}/transactions", json={"data": [], "meta": {}})
    codes = [
        client.get(f"{BASE}/pagos/{attempt.reference}/continuar").status_code for _ in range(6)
    ]
    assert len(mocked.calls) == 1 and codes[0] == 200 and set(codes[1:]) == {503}


def test_approved_return_shows_success_and_the_receipt(client, customer, bill, mocked):
    attempt, _ = start(client, bill)
    gateway_says(mocked, attempt, "1234-1-1", "APPROVED")
    html = result(client, attempt.reference, "1234-1-1")
    assert SUCCESS in html and "Transacción Aprobada" in html
    assert attempt.reference in html and "$ 46.300" in html and "Imprimir" in html
    assert bill_state(bill) == PAID
    assert "Pagado" in client.get(f"{BASE}/avisos").get_data(as_text=True)


@pytest.mark.parametrize(
    "lie",
    [{"amount": 100}, {"amount": 463_000_000}, {"reference": "GPOTRAREF"}, {"currency": "USD"}],
)
def test_return_that_does_not_match_the_attempt_never_shows_success(
    client, customer, bill, mocked, lie
):
    attempt, _ = start(client, bill)
    gateway_says(mocked, attempt, "1234-1-1", "APPROVED", **lie)
    html = result(client, attempt.reference, "1234-1-1")
    assert SUCCESS not in html and "Aprobada" not in html
    assert bill_state(bill) == UNPAID
    [row] = attempts()
    assert row.status == T.CREATED
    if "reference" not in lie:  # our reference, other amount or currency: staff must look
        assert row.review_reason and "revisión" in html


def test_declined_return_explains_and_offers_a_retry(client, customer, bill, mocked):
    attempt, _ = start(client, bill)
    gateway_says(mocked, attempt, "1234-1-1", "DECLINED")
    html = result(client, attempt.reference, "1234-1-1")
    assert SUCCESS not in html and "Su pago no fue aprobado" in html
    retry = f"{BASE}/avisos/{bill.id}/pagar"
    assert f'href="{retry}">Reintentar' in html
    response = client.get(retry)
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"{BASE}/avisos/{bill.id}#pagar"
    )
    assert ">Pagar con Wompi</button>" in client.get(f"{BASE}/avisos/{bill.id}").text
    assert pay(client, bill).status_code == 303  # a new attempt for the same notice
    assert len(attempts()) == 2


def test_pending_return_refreshes_itself(client, customer, bill, mocked):
    attempt, _ = start(client, bill)
    gateway_says(mocked, attempt, "1234-1-1", "PENDING")
    html = result(client, attempt.reference, "1234-1-1")
    assert 'data-poll="' in html and "PENDIENTE" in html  # app.js asks again every 3 s
    assert SUCCESS not in html


# --- a checkout retry under one reference: declined, then approved -------------------------------


def test_declined_then_approved_through_the_webhook(client, customer, bill, interservicios):
    attempt, _ = start(client, bill)
    declined = fakes.transaction("1234-1-1", "DECLINED", attempt.reference, 4_630_000)
    approved = fakes.transaction("1234-1-2", "APPROVED", attempt.reference, 4_630_000)
    assert send_event(client, interservicios, declined) == "applied"
    assert bill_state(bill) == UNPAID
    assert send_event(client, interservicios, approved) == "applied"
    first, retry = attempts()
    assert (first.status, retry.status) == (T.DECLINED, T.APPROVED)
    assert retry.reference == first.reference and retry.retry_of_id == first.id
    assert retry.customer_id == customer.id and retry.review_reason is None
    assert bill_state(bill) == PAID
    html = result(client, attempt.reference)
    assert SUCCESS in html and "Reintentar" not in html
    payments = client.get(f"{BASE}/pagos").get_data(as_text=True)
    assert payments.count(attempt.reference) >= 2 and "Aprobada" in payments
    assert send_event(client, interservicios, declined) == "duplicate"
    assert attempts()[1].status == T.APPROVED


def test_approved_return_then_a_late_decline_event_stays_paid(
    client, customer, bill, interservicios, mocked
):
    attempt, _ = start(client, bill)
    gateway_says(mocked, attempt, "1234-1-2", "APPROVED")
    assert SUCCESS in result(client, attempt.reference, "1234-1-2")
    declined = fakes.transaction("1234-1-1", "DECLINED", attempt.reference, 4_630_000)
    send_event(client, interservicios, declined)
    assert bill_state(bill) == PAID
    assert SUCCESS in result(client, attempt.reference)


def test_declined_then_approved_through_the_return_page(client, customer, bill, mocked):
    attempt, _ = start(client, bill)
    gateway_says(mocked, attempt, "1234-1-1", "DECLINED")
    assert "Su pago no fue aprobado" in result(client, attempt.reference, "1234-1-1")
    gateway_says(mocked, attempt, "1234-1-2", "APPROVED")  # retried inside Wompi's checkout
    let_checks_through(attempt)  # a retry inside the checkout takes the payer a while
    html = result(client, attempt.reference, "1234-1-2")
    assert SUCCESS in html and "Reintentar" not in html
    assert bill_state(bill) == PAID


# --- end to end through the emulated Web Checkout --------------------------------------------


@pytest.fixture
def emulator(make_app, mocked):
    """The app's calls to the Wompi API are answered by the emulator (another app object)."""
    api = make_app().test_client()

    def forward(request):
        url = urlsplit(request.url)
        headers = {"Authorization": request.headers.get("Authorization", "")}
        response = api.open(
            url.path, method=request.method, query_string=url.query, headers=headers
        )
        return response.status_code, {}, response.get_data()

    pattern = re.compile(r"^http://sandbox\.test/sandbox/wompi/v1/")
    mocked.add_callback(responses.GET, pattern, callback=forward)
    return api


def checkout_and_pay(client, fields, card):
    page = client.get("/sandbox/wompi/checkout/p/", query_string=fields).get_data(as_text=True)
    token = re.search(r'name="checkout" value="([^"]+)"', page).group(1)
    data = {
        "checkout": token,
        "customer_email": fields["customer-data:email"],
        "csrf_token": csrf_from(page),
    }
    response = client.post(
        "/sandbox/wompi/checkout/pagar", data={**data, "method": "CARD", "card_number": card}
    )
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path.startswith("/interservicios/pagos/")
    return location.path, parse_qs(location.query)["id"][0]


def test_end_to_end_card_approved_through_the_emulator(client, customer, bill, emulator):
    _, fields = start(client, bill)
    path, txn_id = checkout_and_pay(client, fields, "4242 4242 4242 4242")
    html = client.get(f"{path}?id={txn_id}").get_data(as_text=True)
    assert SUCCESS in html and "CARD" in html
    assert bill_state(bill) == PAID and attempts()[0].gateway_txn_id == txn_id


def test_end_to_end_decline_then_approve_with_the_emulators_events(
    client, customer, bill, emulator, interservicios
):
    _, fields = start(client, bill)
    path, declined_id = checkout_and_pay(client, fields, "4111 1111 1111 1111")
    assert "Su pago no fue aprobado" in client.get(f"{path}?id={declined_id}").text
    _, approved_id = checkout_and_pay(client, fields, "4242424242424242")  # retry in the checkout
    for event in store.events():  # what the emulator would have POSTed to the webhook
        body = json.dumps(event["body"])
        headers = {"X-Event-Checksum": event["body"]["signature"]["checksum"]}
        response, _ = post_event(
            client,
            event["url"].removeprefix("http://sandbox.test"),
            data=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 200
    assert [(a.gateway_txn_id, a.status) for a in attempts()] == [
        (declined_id, T.DECLINED),
        (approved_id, T.APPROVED),
    ]
    assert bill_state(bill) == PAID
    assert SUCCESS in client.get(path).get_data(as_text=True)
