"""The local gateway emulator, on a minimal Flask app (independent of the app factory)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from flask import Flask

import gaspay
from gaspay.extensions import csrf
from gaspay.sandbox import events, register_sandbox, sign_event, store

PACKAGE = Path(gaspay.__file__).parent
BASE = "http://127.0.0.1:5999"
ID_RE = re.compile(r"^\d+-\d+-\d+$")


def account(slug: str) -> SimpleNamespace:
    return SimpleNamespace(
        public_key=f"pub_test_{slug}",
        private_key=f"prv_test_{slug}",
        integrity_secret=f"test_integrity_{slug}",
        events_secret=f"test_events_{slug}",
        api_url=f"{BASE}/sandbox/wompi/v1",
        checkout_url=f"{BASE}/sandbox/wompi/checkout/p/",
    )


TENANTS = {
    slug: SimpleNamespace(slug=slug, name=slug.title(), wompi=account(slug))
    for slug in ("insesp", "otra")
}
ACC = TENANTS["insesp"].wompi


def make_app(**config) -> Flask:
    app = Flask(
        __name__, template_folder=str(PACKAGE / "templates"), static_folder=str(PACKAGE / "static")
    )
    app.config.update(
        SECRET_KEY="x",
        SANDBOX=True,
        SANDBOX_BASE_URL=BASE,
        SANDBOX_SEND_EVENTS=False,
        SANDBOX_ASYNC_URL_DELAY_SECONDS=60,
        WTF_CSRF_ENABLED=False,
    )
    app.config.update(config)
    app.extensions["gaspay.tenants"] = TENANTS
    csrf.init_app(app)
    register_sandbox(app)
    return app


@pytest.fixture(autouse=True)
def clean_store():
    store.reset()
    yield
    events.wait_for_events(10)
    store.reset()


@pytest.fixture
def client():
    return make_app().test_client()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def tokens(client, public_key=ACC.public_key) -> tuple[str, str]:
    data = client.get(f"/sandbox/wompi/v1/merchants/{public_key}").get_json()["data"]
    return (
        data["presigned_acceptance"]["acceptance_token"],
        data["presigned_personal_data_auth"]["acceptance_token"],
    )


def pse_body(client, reference="INS-21053-1", amount=1800000, bank="1007", **changes) -> dict:
    acceptance, personal = tokens(client)
    body = {
        "amount_in_cents": amount,
        "currency": "COP",
        "signature": sha(f"{reference}{amount}COP{ACC.integrity_secret}"),
        "customer_email": "usuario@example.com",
        "reference": reference,
        "acceptance_token": acceptance,
        "accept_personal_auth": personal,
        "redirect_url": "http://127.0.0.1:5999/insesp/pago/resultado?intento=7",
        "customer_data": {"phone_number": "6472050", "full_name": "Usuario Demo"},
        "payment_method": {
            "type": "PSE",
            "user_type": 0,
            "user_legal_id_type": "CC",
            "user_legal_id": "1099888777",
            "financial_institution_code": bank,
            "payment_description": "Factura gas 21053",
        },
    }
    body.update(changes)
    return body


def create(client, body, key=ACC.public_key):
    return client.post(
        "/sandbox/wompi/v1/transactions", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def created_id(client, **kwargs) -> str:
    response = create(client, pse_body(client, **kwargs))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]["id"]


def fetch(client, txn_id) -> dict:
    return client.get(f"/sandbox/wompi/v1/transactions/{txn_id}").get_json()["data"]


def redirected_id(response, expected_prefix: str) -> str:
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(expected_prefix)
    return parse_qs(urlsplit(location).query)["id"][0]


def check_event(event: dict, txn: dict) -> None:
    body = event["body"]
    assert event["url"] == f"{BASE}/insesp/webhooks/wompi"
    assert body["event"] == "transaction.updated"
    assert body["environment"] == "test"
    assert body["data"]["transaction"]["id"] == txn["id"]
    assert body["data"]["transaction"]["status"] == txn["status"]
    assert body["signature"]["properties"] == [
        "transaction.id",
        "transaction.status",
        "transaction.amount_in_cents",
    ]
    assert isinstance(body["timestamp"], int)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["sent_at"])
    t = body["data"]["transaction"]
    raw = f"{t['id']}{t['status']}{t['amount_in_cents']}{body['timestamp']}{ACC.events_secret}"
    assert body["signature"]["checksum"] == sha(raw)
    assert sign_event(body, ACC.events_secret) == sha(raw)


# --- JSON API ---------------------------------------------------------------------------


def test_merchant_answers_fresh_acceptance_tokens(client):
    response = client.get(f"/sandbox/wompi/v1/merchants/{ACC.public_key}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["meta"] == {}
    data = body["data"]
    assert data["public_key"] == ACC.public_key and data["name"] and data["id"]
    policy, personal = data["presigned_acceptance"], data["presigned_personal_data_auth"]
    assert policy["type"] == "END_USER_POLICY"
    assert personal["type"] == "PERSONAL_DATA_AUTH"
    assert policy["permalink"] == f"{BASE}/sandbox/legal/terminos"
    assert personal["permalink"] == f"{BASE}/sandbox/legal/datos"
    assert policy["acceptance_token"] != personal["acceptance_token"]
    assert tokens(client)[0] != policy["acceptance_token"]
    assert "Términos" in client.get("/sandbox/legal/terminos").get_data(as_text=True)
    assert "datos personales" in client.get("/sandbox/legal/datos").get_data(as_text=True)


def test_unknown_merchant_is_not_found(client):
    response = client.get("/sandbox/wompi/v1/merchants/pub_test_nadie")
    assert response.status_code == 404
    assert response.get_json()["error"]["type"] == "NOT_FOUND_ERROR"


def test_bank_list_needs_a_key(client):
    url = "/sandbox/wompi/v1/pse/financial_institutions"
    for headers in ({}, {"Authorization": "Bearer pub_test_otro"}):
        response = client.get(url, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["type"] == "INVALID_ACCESS_TOKEN"
    banks = client.get(url, headers={"Authorization": f"Bearer {ACC.public_key}"}).get_json()
    codes = [b["financial_institution_code"] for b in banks["data"]]
    assert codes[:3] == ["1", "2", "1001"] and codes[-1] == "1551" and "1007" in codes
    assert banks["data"][0]["financial_institution_name"] == "Banco que aprueba (sandbox)"


def test_create_answers_pending_and_the_bank_url_comes_later(client):
    response = create(client, pse_body(client))
    assert response.status_code == 201
    data = response.get_json()["data"]
    assert ID_RE.match(data["id"])
    assert data["status"] == "PENDING" and data["finalized_at"] is None
    assert data["payment_method"]["type"] == "PSE"
    assert "async_payment_url" not in data["payment_method"]["extra"]
    assert "async_payment_url" not in fetch(client, data["id"])["payment_method"]["extra"]
    later = fetch(client, data["id"])
    assert (
        later["payment_method"]["extra"]["async_payment_url"] == f"{BASE}/sandbox/pse/{data['id']}"
    )
    assert later["reference"] == "INS-21053-1" and later["amount_in_cents"] == 1800000


def test_bank_url_appears_after_the_delay(client):
    client.application.config["SANDBOX_ASYNC_URL_DELAY_SECONDS"] = 0
    txn_id = created_id(client)
    assert fetch(client, txn_id)["payment_method"]["extra"]["async_payment_url"]


def test_unknown_transaction_is_not_found(client):
    response = client.get("/sandbox/wompi/v1/transactions/1-2-3")
    assert response.status_code == 404
    assert response.get_json()["error"]["type"] == "NOT_FOUND_ERROR"


def assert_invalid(response, field: str) -> None:
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["type"] == "INPUT_VALIDATION_ERROR"
    assert isinstance(error["messages"][field], list) and error["messages"][field]


def test_create_rejects_missing_and_wrong_fields(client):
    body = pse_body(client)
    del body["customer_email"]
    assert_invalid(create(client, body), "customer_email")
    assert_invalid(create(client, pse_body(client, amount="1800000")), "amount_in_cents")
    assert_invalid(create(client, pse_body(client, currency="USD")), "currency")
    assert_invalid(
        create(client, pse_body(client, bank="0")), "payment_method.financial_institution_code"
    )
    juridica = pse_body(client)
    juridica["payment_method"]["user_type"] = 1
    assert_invalid(create(client, juridica), "payment_method.user_legal_id_type")
    assert store.transactions() == []


def test_create_needs_a_key(client):
    body = pse_body(client)
    assert create(client, body, key="pub_test_nadie").status_code == 401
    response = client.post("/sandbox/wompi/v1/transactions", json=body)
    assert response.status_code == 401


def test_create_checks_the_integrity_signature(client):
    assert_invalid(create(client, pse_body(client, signature=sha("otra cosa"))), "signature")
    moment = "2099-01-01T00:00:00.000Z"
    unsigned = pse_body(client, reference="INS-EXP", expiration_time=moment)
    assert_invalid(create(client, unsigned), "signature")  # expiration_time is not in the hash
    signed = sha(f"INS-EXP1800000COP{moment}{ACC.integrity_secret}")
    ok = pse_body(client, reference="INS-EXP", expiration_time=moment, signature=signed)
    assert create(client, ok).status_code == 201
    past = "2020-01-01T00:00:00.000Z"
    expired = pse_body(
        client,
        reference="INS-2",
        expiration_time=past,
        signature=sha(f"INS-21800000COP{past}{ACC.integrity_secret}"),
    )
    assert_invalid(create(client, expired), "expiration_time")


def test_create_checks_acceptance_tokens(client):
    acceptance, personal = tokens(client)
    other_acceptance, _ = tokens(client, TENANTS["otra"].wompi.public_key)
    assert_invalid(create(client, pse_body(client, acceptance_token="nope")), "acceptance_token")
    assert_invalid(
        create(client, pse_body(client, acceptance_token=other_acceptance)), "acceptance_token"
    )
    swapped = pse_body(client, acceptance_token=personal, accept_personal_auth=acceptance)
    response = create(client, swapped)
    assert_invalid(response, "acceptance_token")
    assert_invalid(response, "accept_personal_auth")


def test_duplicate_reference_is_refused(client):
    created_id(client)
    assert_invalid(create(client, pse_body(client)), "reference")


def test_list_by_reference_needs_the_private_key(client):
    txn_id = created_id(client)
    url = "/sandbox/wompi/v1/transactions?reference=INS-21053-1"
    response = client.get(url, headers={"Authorization": f"Bearer {ACC.public_key}"})
    assert response.status_code == 401
    data = client.get(url, headers={"Authorization": f"Bearer {ACC.private_key}"}).get_json()
    assert [t["id"] for t in data["data"]] == [txn_id]
    other = {"Authorization": f"Bearer {TENANTS['otra'].wompi.private_key}"}
    assert client.get(url, headers=other).get_json()["data"] == []


# --- PSE and bank pages ---------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["APPROVED", "DECLINED", "PENDING"])
def test_pse_page_then_bank_page_decides(client, decision):
    txn_id = created_id(client)
    page = client.get(f"/sandbox/pse/{txn_id}").get_data(as_text=True)
    for text in (
        "PSE - Pagos Seguros en Línea",
        "Persona natural",
        "Persona jurídica",
        "Soy un usuario registrado",
        "Quiero registrarme ahora",
        "E-mail registrado en PSE",
        "Ir al Banco",
        "Entorno de pruebas (sandbox)",
        "$ 18.000",
    ):
        assert text in page
    form = {"user_type": "0", "pse_user": "registered", "email": "usuario@example.com"}
    response = client.post(f"/sandbox/pse/{txn_id}", data=form)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/sandbox/banco/{txn_id}")
    bank = client.get(f"/sandbox/banco/{txn_id}").get_data(as_text=True)
    for text in ("Bancolombia", "Aprobar", "Rechazar", "Dejar pendiente"):
        assert text in bank
    response = client.post(f"/sandbox/banco/{txn_id}", data={"decision": decision})
    assert redirected_id(response, f"{BASE}/insesp/pago/resultado?intento=7&id=") == txn_id
    txn = fetch(client, txn_id)
    extra = txn["payment_method"]["extra"]
    assert txn["status"] == decision
    assert extra["traceability_code"].isdigit()
    assert extra["bank_name"] == extra["financial_institution_name"] == "Bancolombia"
    if decision == "PENDING":
        assert txn["finalized_at"] is None and txn["status_message"]
        assert store.events() == []
    else:
        assert txn["finalized_at"]
        [event] = store.events()
        check_event(event, txn)


@pytest.mark.parametrize(("bank", "status"), [("1", "APPROVED"), ("2", "DECLINED")])
def test_sandbox_banks_decide_at_ir_al_banco(client, bank, status):
    txn_id = created_id(client, bank=bank)
    response = client.post(f"/sandbox/pse/{txn_id}", data={"user_type": "0", "email": "a@b.co"})
    assert redirected_id(response, BASE + "/insesp/pago/resultado") == txn_id
    assert fetch(client, txn_id)["status"] == status


def test_pse_page_wants_the_registered_email(client):
    txn_id = created_id(client)
    response = client.post(
        f"/sandbox/pse/{txn_id}", data={"user_type": "0", "pse_user": "registered"}
    )
    assert response.status_code == 400
    assert "e-mail" in response.get_data(as_text=True)


def test_a_final_transaction_never_changes(client):
    txn_id = created_id(client)
    client.post(f"/sandbox/banco/{txn_id}", data={"decision": "DECLINED"})
    response = client.post(f"/sandbox/banco/{txn_id}", data={"decision": "APPROVED"})
    assert response.status_code == 200 and "rechazada" in response.get_data(as_text=True)
    assert fetch(client, txn_id)["status"] == "DECLINED"
    assert len(store.events()) == 1


def test_unknown_pages_are_not_found(client):
    assert client.get("/sandbox/pse/1-2-3").status_code == 404
    assert client.get("/sandbox/banco/1-2-3").status_code == 404


def test_bank_form_needs_the_csrf_token():
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    txn_id = created_id(client)  # the JSON API is exempt
    assert client.post(f"/sandbox/banco/{txn_id}", data={"decision": "APPROVED"}).status_code == 400
    page = client.get(f"/sandbox/banco/{txn_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        f"/sandbox/banco/{txn_id}", data={"decision": "APPROVED", "csrf_token": token}
    )
    assert redirected_id(response, BASE) == txn_id
    assert fetch(client, txn_id)["status"] == "APPROVED"


def test_index_lists_newest_first_and_decides_pending_later(client):
    first = created_id(client, reference="A-1")
    second = created_id(client, reference="B-2")
    page = client.get("/sandbox/").get_data(as_text=True)
    assert page.index(second) < page.index(first)
    response = client.post(f"/sandbox/transacciones/{first}", data={"decision": "APPROVED"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/sandbox/")
    txn = fetch(client, first)
    assert txn["status"] == "APPROVED"
    check_event(store.events()[0], txn)


# --- Web Checkout -----------------------------------------------------------------------


def checkout_args(reference="INS-21053-9", amount="1800000", **extra) -> dict:
    args = {
        "public-key": ACC.public_key,
        "currency": "COP",
        "amount-in-cents": amount,
        "reference": reference,
        "signature:integrity": sha(f"{reference}{amount}COP{ACC.integrity_secret}"),
        "redirect-url": "http://127.0.0.1:5999/insesp/pago/retorno",
        "customer-data:email": "usuario@example.com",
        "customer-data:full-name": "Usuario Demo",
    }
    args.update(extra)
    return args


def open_checkout(client, **kwargs) -> str:
    response = client.get("/sandbox/wompi/checkout/p/", query_string=checkout_args(**kwargs))
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "$ 18.000" in page and "INS-21053-9" in page
    return re.search(r'name="checkout" value="([^"]+)"', page).group(1)


def pay(client, token, **form):
    data = {"checkout": token, "customer_email": "usuario@example.com", **form}
    return client.post("/sandbox/wompi/checkout/pagar", data=data)


@pytest.mark.parametrize(
    "args",
    [
        {"signature:integrity": "0" * 64},
        {"public-key": "pub_test_nadie"},
        {"signature:integrity": ""},
        {"expiration-time": "2020-01-01T00:00:00.000Z"},  # would need to be signed, too
    ],
)
def test_checkout_refuses_a_bad_form_and_creates_nothing(client, args):
    response = client.get("/sandbox/wompi/checkout/p/", query_string=checkout_args(**args))
    assert response.status_code == 400
    assert store.transactions() == []


def test_checkout_error_says_the_signature_is_wrong(client):
    args = checkout_args(**{"signature:integrity": sha("x")})
    page = client.get("/sandbox/wompi/checkout/p/", query_string=args).get_data(as_text=True)
    assert "La firma de integridad no es válida" in page


def test_checkout_checks_expiration_time(client):
    for moment, status in (("2020-01-01T00:00:00.000Z", 400), ("2099-01-01T00:00:00.000Z", 200)):
        signed = sha(f"INS-21053-91800000COP{moment}{ACC.integrity_secret}")
        args = checkout_args(**{"expiration-time": moment, "signature:integrity": signed})
        response = client.get("/sandbox/wompi/checkout/p/", query_string=args)
        assert response.status_code == status


@pytest.mark.parametrize(
    ("card", "status"),
    [
        ("4242 4242 4242 4242", "APPROVED"),
        ("4111111111111111", "DECLINED"),
        ("5555 5555 5555 4444", "ERROR"),
    ],
)
def test_checkout_card_outcomes(client, card, status):
    response = pay(client, open_checkout(client), method="CARD", card_number=card)
    txn_id = redirected_id(response, f"{BASE}/insesp/pago/retorno?id=")
    txn = fetch(client, txn_id)
    assert txn["status"] == status and txn["payment_method_type"] == "CARD"
    assert txn["payment_method"]["extra"]["last_four"] == card[-4:]
    digits = card.replace(" ", "")
    assert digits not in json.dumps(txn) and digits not in repr(store.transactions())
    [event] = store.events()
    check_event(event, txn)


@pytest.mark.parametrize(
    ("phone", "status"),
    [("3991111111", "APPROVED"), ("3992222222", "DECLINED"), ("3001234567", "ERROR")],
)
def test_checkout_nequi_outcomes(client, phone, status):
    response = pay(client, open_checkout(client), method="NEQUI", phone_number=phone)
    txn = fetch(client, redirected_id(response, BASE))
    assert txn["status"] == status and txn["payment_method"]["phone_number"] == phone


def test_checkout_retry_after_a_decline_then_no_second_payment(client):
    declined = redirected_id(
        pay(client, open_checkout(client), method="CARD", card_number="4111111111111111"), BASE
    )
    approved = redirected_id(
        pay(client, open_checkout(client), method="CARD", card_number="4242424242424242"), BASE
    )
    assert declined != approved
    assert [t.status for t in store.find(ACC.public_key, "INS-21053-9")] == ["DECLINED", "APPROVED"]
    again = client.get("/sandbox/wompi/checkout/p/", query_string=checkout_args())
    assert again.status_code == 400 and "aprobado" in again.get_data(as_text=True)


def test_checkout_pse_goes_through_the_pse_and_bank_pages(client):
    response = pay(
        client,
        open_checkout(client),
        method="PSE",
        financial_institution_code="1051",
        user_type="0",
        user_legal_id_type="CC",
        user_legal_id="1099888777",
    )
    assert response.status_code == 303
    txn_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert fetch(client, txn_id)["status"] == "PENDING"
    client.post(f"/sandbox/pse/{txn_id}", data={"user_type": "0", "email": "a@b.co"})
    response = client.post(f"/sandbox/banco/{txn_id}", data={"decision": "APPROVED"})
    assert redirected_id(response, f"{BASE}/insesp/pago/retorno?id=") == txn_id
    assert fetch(client, txn_id)["payment_method"]["extra"]["bank_name"] == "Banco Davivienda"


def test_checkout_form_errors_and_tampering(client):
    token = open_checkout(client)
    response = pay(client, token, method="CARD", card_number="")
    assert response.status_code == 400 and "número de la tarjeta" in response.get_data(as_text=True)
    assert pay(client, token).status_code == 400  # no method chosen
    assert (
        pay(client, token + "x", method="CARD", card_number="4242424242424242").status_code == 400
    )
    assert store.transactions() == []


# --- Events -----------------------------------------------------------------------------


def test_events_are_posted_with_the_checksum_header_and_retried():
    client = make_app(
        SANDBOX_SEND_EVENTS=True, SANDBOX_EVENT_DELAY_SECONDS=0, SANDBOX_EVENT_BACKOFF_SECONDS=0
    ).test_client()
    url = f"{BASE}/insesp/webhooks/wompi"
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, url, status=500)
        mock.add(responses.POST, url, status=200)
        txn_id = created_id(client)
        client.post(f"/sandbox/banco/{txn_id}", data={"decision": "APPROVED"})
        assert events.wait_for_events(10)
        assert len(mock.calls) == 2
        request = mock.calls[-1].request
    body = json.loads(request.body)
    assert request.headers["X-Event-Checksum"] == body["signature"]["checksum"]
    check_event({"url": request.url, "body": body}, fetch(client, txn_id))


def test_event_failures_never_reach_the_request(caplog):
    client = make_app(
        SANDBOX_SEND_EVENTS=True, SANDBOX_EVENT_DELAY_SECONDS=0, SANDBOX_EVENT_BACKOFF_SECONDS=0
    ).test_client()
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST, f"{BASE}/insesp/webhooks/wompi", body=requests.ConnectionError("caído")
        )
        txn_id = created_id(client)
        response = client.post(f"/sandbox/banco/{txn_id}", data={"decision": "DECLINED"})
        assert response.status_code == 303
        assert events.wait_for_events(10)
        assert len(mock.calls) == 4
    assert "given up" in caplog.text


def test_sign_event_follows_the_listed_properties():
    body = {
        "data": {"transaction": {"id": "1-2-3", "status": "APPROVED", "amount_in_cents": 4490000}},
        "signature": {"properties": ["transaction.status", "transaction.id"]},
        "timestamp": 1530291411,
    }
    assert sign_event(body, "secreto") == sha("APPROVED1-2-31530291411secreto")


def test_register_refuses_production():
    app = Flask(__name__)
    app.config.update(SANDBOX=True, PRODUCTION=True)
    with pytest.raises(RuntimeError):
        register_sandbox(app)
