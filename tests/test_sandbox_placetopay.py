"""The PlacetoPay emulator driven through the real client (a requests adapter into the test app),
and its session page, on a minimal Flask app (independent of the app factory)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
import responses
from flask import Flask

import gaspay
from gaspay.extensions import csrf
from gaspay.gateways.placetopay import (
    GatewayRejected,
    NotFound,
    Person,
    PlacetoPayClient,
    read_notification,
    statuses,
)
from gaspay.sandbox import events, placetopay, register_sandbox, store, wait_for_events

PACKAGE = Path(gaspay.__file__).parent
BASE = "http://127.0.0.1:5999"
API = f"{BASE}/sandbox/placetopay"
RETURN = f"{BASE}/placeto/pagos/GPX0000001/retorno"


def account(slug: str) -> SimpleNamespace:
    return SimpleNamespace(
        login=f"sandbox_dev_{slug}", secret_key=f"p2p_secret_sandbox_dev_{slug}", base_url=API
    )


TENANTS = {
    "placeto": SimpleNamespace(slug="placeto", name="Placeto", placetopay=account("placeto")),
    "otra": SimpleNamespace(slug="otra", name="Otra", placetopay=account("otra")),
    "solo-wompi": SimpleNamespace(slug="solo-wompi", name="Solo Wompi", placetopay=None),
}
ACC = TENANTS["placeto"].placetopay


class FlaskAdapter(requests.adapters.BaseAdapter):
    """Sends a requests call into a Flask test client, as if over HTTP."""

    def __init__(self, app: Flask):
        super().__init__()
        self.client = app.test_client()
        self.calls: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.calls.append(request)
        parts = urlsplit(request.url)
        answer = self.client.open(
            parts.path,
            method=request.method,
            query_string=parts.query,
            data=request.body,
            # The body is handed over as it is, so ask for it uncompressed (Flask-Compress).
            headers={**dict(request.headers), "Accept-Encoding": "identity"},
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.get_data()
        response.headers.update(answer.headers)
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self):
        pass


def make_app(**config) -> Flask:
    app = Flask(
        __name__, template_folder=str(PACKAGE / "templates"), static_folder=str(PACKAGE / "static")
    )
    app.config.update(
        SECRET_KEY="x",
        SANDBOX=True,
        SANDBOX_BASE_URL=BASE,
        SANDBOX_SEND_EVENTS=False,
        WTF_CSRF_ENABLED=False,
    )
    app.config.update(config)
    app.extensions["gaspay.tenants"] = TENANTS
    csrf.init_app(app)
    register_sandbox(app)
    return app


@pytest.fixture(autouse=True)
def clean_state():
    placetopay.reset()
    store.reset()
    yield
    wait_for_events(10)
    placetopay.reset()
    store.reset()


@pytest.fixture
def app():
    return make_app()


@pytest.fixture
def browser(app):
    return app.test_client()


def p2p(app, account=ACC, **options) -> PlacetoPayClient:
    http = requests.Session()
    http.mount(BASE, FlaskAdapter(app))
    return PlacetoPayClient(
        base_url=account.base_url,
        login=account.login,
        secret_key=account.secret_key,
        session=http,
        retries=0,
        sleep=lambda _s: None,
        **options,
    )


def create(client, **changes):
    arguments = {
        "reference": "GPX0000001",
        "description": "Factura gas 21053",
        "amount_cents": 1_800_000,
        "currency": "COP",
        "return_url": RETURN,
        "ip_address": "190.24.1.10",
        "user_agent": "Mozilla/5.0 (pruebas)",
        "buyer": Person(document="1099888777", document_type="CC", name="Usuaria"),
    }
    arguments.update(changes)
    return client.create_session(**arguments)


def page_path(created) -> str:
    url = created.process_url
    assert url.startswith(f"{API}/session/{created.request_id}/")
    return urlsplit(url).path


def pay(browser, created, decision="APPROVED", **form):
    data = {"method": "pse", "bank": "1007", "person_type": "natural", "decision": decision}
    data.update(form)
    return browser.post(page_path(created), data=data)


def check_notification(entry: dict, info) -> None:
    """The emulator's notification verifies with the client package, and says what the query
    says."""
    assert entry["url"] == f"{BASE}/placeto/webhooks/placetopay"
    note = read_notification(entry["body"], ACC.secret_key, accept_sha1=False)
    assert note.algorithm == "sha256"
    assert note.request_id == info.request_id and note.reference == "GPX0000001"
    assert note.status == info.status


# --- the whole flow through the client -------------------------------------------------------


def test_create_then_pay_by_pse_then_query_and_notification(app, browser):
    client = p2p(app)
    created = create(client, skip_result=True)
    assert created.status.status == "OK" and isinstance(created.request_id, int)
    info = client.query_session(created.request_id)
    assert info.status.status == "PENDING" and info.status.reason == "PT"
    assert info.payments == () and info.raw["payment"] is None
    assert info.reference == "GPX0000001" and info.amount_cents == 1_800_000
    fields = info.raw["request"]["fields"]
    assert fields == [
        {"keyword": "_processUrl_", "value": created.process_url, "displayOn": "none"}
    ]
    assert "auth" not in info.raw["request"]

    page = browser.get(page_path(created))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "PSE" in html and "Tarjeta" in html and "Bancolombia" in html and "$ 18.000" in html
    response = pay(browser, created)
    assert response.status_code == 303 and response.headers["Location"] == RETURN  # skipResult

    info = client.query_session(created.request_id)
    assert info.status.status == "APPROVED" and info.is_final
    settled = info.settle(reference="GPX0000001", amount_cents=1_800_000, currency="COP")
    assert settled.gateway_input == statuses.APPROVED
    txn = settled.transaction
    assert txn.is_pse and txn.cus and txn.cus == txn.processor_fields["trazabilyCode"]
    assert txn.issuer_name == "Bancolombia" and txn.franchise == "_PSE_"
    assert txn.payment_method_name == "Cuentas débito ahorro y corriente (PSE)"
    assert txn.amount_cents == 1_800_000 and txn.raw["amount"]["from"]["total"] == "18000.00"
    assert txn.receipt == str(txn.internal_reference)
    (entry,) = placetopay.notifications()
    check_notification(entry, info)


def test_reject_declines_and_notifies(app, browser):
    client = p2p(app)
    created = create(client)
    response = pay(browser, created, "REJECTED")
    assert response.status_code == 200  # PlacetoPay's result page, then back to the merchant
    html = response.get_data(as_text=True)
    assert "rechazada" in html and RETURN in html
    info = client.query_session(created.request_id)
    settled = info.settle(reference="GPX0000001", amount_cents=1_800_000)
    assert settled.gateway_input == statuses.DECLINED
    assert settled.message == "La petición ha sido rechazada"
    assert settled.transaction.status.status == "REJECTED"
    check_notification(placetopay.notifications()[0], info)
    # A final session takes no second payment.
    pay(browser, created, "APPROVED")
    assert len(client.query_session(created.request_id).payments) == 1


def test_pending_pse_stays_pending_until_decided_later(app, browser):
    client = p2p(app)
    created = create(client)
    pay(browser, created, "PENDING", bank="1051")
    info = client.query_session(created.request_id)
    assert info.status.status == "PENDING"
    (txn,) = info.payments
    assert txn.status.status == "PENDING" and txn.status.reason == "?-"
    assert info.settle().gateway_input == statuses.PENDING and txn.cus
    assert placetopay.notifications() == []
    # The payer comes back to the page: no second try while one is in progress.
    again = browser.get(page_path(created)).get_data(as_text=True)
    assert 'name="decision"' not in again and "Pendiente" in again
    index = browser.get("/sandbox/placetopay/").get_data(as_text=True)
    assert str(created.request_id) in index and "Aprobar" in index
    response = browser.post(
        f"/sandbox/placetopay/sesiones/{created.request_id}", data={"decision": "APPROVED"}
    )
    assert response.status_code == 303
    info = client.query_session(created.request_id)
    assert info.settle().gateway_input == statuses.APPROVED
    assert info.payments[0].cus == txn.cus  # the same debit, now approved
    check_notification(placetopay.notifications()[0], info)


def test_card_approval_has_card_fields(app, browser):
    client = p2p(app)
    created = create(client, payment_method="card")
    html = browser.get(page_path(created)).get_data(as_text=True)
    assert "Si paga con PSE" not in html and "Tarjeta" in html
    pay(browser, created, method="card", card_number="5555 4444 3333 1111")
    (txn,) = client.query_session(created.request_id).payments
    assert txn.payment_method == "master" and txn.franchise == "RM_MC" and not txn.is_pse
    assert txn.cus is None and len(txn.authorization) == 6
    assert txn.processor_fields["lastDigits"] == "****1111"
    assert txn.raw["amount"]["from"]["total"] == 18000  # a number here, a string for PSE


def test_card_pending_is_pending_validation(app, browser):
    client = p2p(app)
    created = create(client)
    pay(browser, created, "PENDING", method="card", card_number="4111111111111111")
    info = client.query_session(created.request_id)
    assert info.payments[0].status.status == "PENDING_VALIDATION"
    assert info.settle().gateway_input == statuses.PENDING


def test_payer_cancel_goes_to_cancel_url_and_notifies(app, browser):
    client = p2p(app)
    created = create(client, cancel_url=f"{BASE}/placeto/pagos/GPX0000001/cancelado")
    response = browser.post(page_path(created) + "/cancelar")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{BASE}/placeto/pagos/GPX0000001/cancelado"
    info = client.query_session(created.request_id)
    assert (info.status.status, info.status.reason) == ("REJECTED", "?C")
    assert info.settle().gateway_input == statuses.DECLINED
    check_notification(placetopay.notifications()[0], info)


def test_merchant_cancel_through_the_api(app, browser):
    client = p2p(app)
    created = create(client)
    assert client.cancel_session(created.request_id).status == "OK"
    info = client.query_session(created.request_id)
    assert (info.status.status, info.status.reason) == ("REJECTED", "MC")
    with pytest.raises(GatewayRejected) as info_error:
        client.cancel_session(created.request_id)
    assert info_error.value.reason == "action_not_allowed"
    pending = create(client, reference="GPX0000002")
    pay(browser, pending, "PENDING")
    with pytest.raises(GatewayRejected):
        client.cancel_session(pending.request_id)  # a debit is in progress


def test_expired_session_is_rejected_and_notified(app, monkeypatch):
    client = p2p(app)
    created = create(client, expiration=datetime.now(UTC) + timedelta(minutes=6))
    later = datetime.now(UTC) + timedelta(minutes=7)
    monkeypatch.setattr(placetopay, "now", lambda: later)
    info = p2p(app, now=lambda: later).query_session(created.request_id)
    assert info.status.status == "REJECTED" and info.settle().gateway_input == statuses.DECLINED
    assert len(placetopay.notifications()) == 1


# --- authentication, as the real service checks it --------------------------------------------


def test_wrong_secret_unknown_login_and_old_seed_are_refused(app):
    wrong = SimpleNamespace(login=ACC.login, secret_key="otra-clave", base_url=API)
    unknown = SimpleNamespace(login="nadie", secret_key="x", base_url=API)
    solo = SimpleNamespace(login="sandbox_dev_solo-wompi", secret_key="x", base_url=API)
    cases = [
        (p2p(app, wrong), 102),
        (p2p(app, unknown), 101),
        (p2p(app, solo), 101),  # a tenant without a PlacetoPay account is no site
        (p2p(app, now=lambda: datetime.now(UTC) - timedelta(minutes=6)), 103),
        (p2p(app, now=lambda: datetime.now(UTC) + timedelta(minutes=6)), 103),
    ]
    for client, code in cases:
        with pytest.raises(GatewayRejected) as info:
            create(client)
        assert info.value.status_code == 401 and info.value.auth_code == code
        assert info.value.message == f"Authentication failed {code}"
    assert placetopay.sessions() == []
    # A seed in another offset, within the 5 minutes, is fine.
    bogota = p2p(app, now=lambda: datetime.now(UTC).astimezone(placetopay.COLOMBIA))
    assert create(bogota).request_id


def raw_post(browser, path, body, **kwargs):
    return browser.post(f"/sandbox/placetopay/api{path}", data=json.dumps(body), **kwargs)


def auth_for(secret=ACC.secret_key, algorithm="sha256", nonce=b"fixed-nonce-0001") -> dict:
    seed = datetime.now(UTC).isoformat(timespec="seconds")
    key = base64.b64encode(hashlib.new(algorithm, nonce + seed.encode() + secret.encode()).digest())
    return {
        "login": ACC.login,
        "tranKey": key.decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "seed": seed,
    }


def test_sha1_is_accepted_unless_turned_off_and_a_nonce_is_never_reused(browser):
    headers = {"Content-Type": "application/json"}
    auth = auth_for(algorithm="sha1")
    first = raw_post(browser, "/session/1", {"auth": auth}, headers=headers)
    assert first.status_code == 404  # authenticated; no such session
    replay = raw_post(browser, "/session/1", {"auth": auth}, headers=headers)
    assert replay.status_code == 401
    assert replay.get_json()["status"]["message"] == "Authentication failed 107"
    strict = make_app(SANDBOX_PLACETOPAY_ACCEPT_SHA1=False).test_client()
    refused = raw_post(
        strict, "/session/1", {"auth": auth_for("x", "sha1", b"n2")}, headers=headers
    )
    assert refused.get_json()["status"]["message"] == "Authentication failed 102"
    sha1 = raw_post(
        strict, "/session/1", {"auth": auth_for(algorithm="sha1", nonce=b"n3")}, headers=headers
    )
    assert sha1.status_code == 401


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        ({"auth": {}}, {"Content-Type": "text/plain"}, "Malformed authentication"),
        ({}, {"Content-Type": "application/json"}, "Authentication failed 100"),
        (
            {"auth": {"login": ACC.login}},
            {"Content-Type": "application/json"},
            "Authentication failed 100",
        ),
        (
            {"auth": {**auth_for(), "nonce": "%%%"}},
            {"Content-Type": "application/json"},
            "Authentication failed 100",
        ),
        (
            {"auth": {**auth_for(), "seed": "ayer"}},
            {"Content-Type": "application/json"},
            "Authentication failed 100",
        ),
    ],
)
def test_malformed_authentication(browser, body, headers, message):
    response = raw_post(browser, "/session", body, headers=headers)
    assert response.status_code == 401
    status = response.get_json()["status"]
    assert status["status"] == "FAILED" and status["reason"] == 401
    assert status["message"] == message
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-05:00$", status["date"])


def test_another_sites_session_is_not_found(app):
    created = create(p2p(app))
    other = p2p(app, TENANTS["otra"].placetopay)
    with pytest.raises(NotFound) as info:
        other.query_session(created.request_id)
    assert info.value.reason == "request_not_valid"
    with pytest.raises(NotFound):
        p2p(app).query_session(created.request_id + 1000)


# --- creation checks ----------------------------------------------------------------------------


def valid_body(**changes) -> dict:
    body = {
        "payment": {
            "reference": "GPX0000009",
            "description": "Factura",
            "amount": {"currency": "COP", "total": 18000},
        },
        "returnUrl": RETURN,
        "ipAddress": "190.24.1.10",
        "userAgent": "Mozilla/5.0",
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "reason", "words"),
    [
        (
            {
                "payment": {
                    "reference": "R" * 33,
                    "description": "x",
                    "amount": {"currency": "COP", "total": 1},
                }
            },
            "BR",
            "referencia",
        ),
        (
            {
                "payment": {
                    "reference": "R",
                    "description": "x",
                    "amount": {"currency": "COP", "total": "18000"},
                }
            },
            "BR",
            "total",
        ),
        (
            {
                "payment": {
                    "reference": "R",
                    "description": "x",
                    "allowPartial": True,
                    "amount": {"currency": "COP", "total": 1},
                }
            },
            "BR",
            "parciales",
        ),
        ({"returnUrl": "/relativa"}, "BR", "returnUrl"),
        ({"ipAddress": "localhost"}, "BR", "ipAddress"),
        ({"userAgent": ""}, "BR", "userAgent"),
        ({"expiration": "2020-01-01T00:00:00-05:00"}, "BR", "5 minutos"),
        ({"paymentMethod": "nequi"}, "BR", "paymentMethod"),
        ({"payer": {"document": "0123", "documentType": "CC"}}, "payer_data_not_valid", "pagador"),
        ({"payer": {"email": "sin-arroba"}}, "payer_data_not_valid", "correo"),
    ],
)
def test_create_validation_answers_failed(browser, changes, reason, words):
    body = valid_body(**changes)
    body["auth"] = auth_for(nonce=("n-" + json.dumps(changes)).encode())
    response = raw_post(browser, "/session", body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    status = response.get_json()["status"]
    assert status["status"] == "FAILED" and status["reason"] == reason
    assert words in status["message"]
    assert placetopay.sessions() == []


# --- the session page ------------------------------------------------------------------------


def test_page_needs_its_token_and_explains_form_errors(app, browser):
    created = create(p2p(app))
    assert browser.get(f"/sandbox/placetopay/session/{created.request_id}/otro").status_code == 404
    assert browser.get("/sandbox/placetopay/session/999/x").status_code == 404
    response = pay(browser, created, bank="", person_type="")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Seleccione su banco." in html and "Seleccione el tipo de persona." in html
    response = pay(browser, created, method="card", card_number="12")
    assert "Escriba el número de la tarjeta" in response.get_data(as_text=True)
    response = pay(browser, created, decision="")
    assert "Elija el resultado del pago." in response.get_data(as_text=True)
    response = pay(browser, created, method="")
    assert "Elija un medio de pago." in response.get_data(as_text=True)
    assert placetopay.get(created.request_id).payments == []


def test_page_forms_carry_the_csrf_token():
    app = make_app(WTF_CSRF_ENABLED=True)
    browser = app.test_client()
    created = create(p2p(app))
    html = browser.get(page_path(created)).get_data(as_text=True)
    assert html.count('name="csrf_token"') == 2
    assert pay(browser, created).status_code == 400  # no token: refused
    assert placetopay.get(created.request_id).payments == []
    # The API stays CSRF-exempt, like the real one.
    assert p2p(app).query_session(created.request_id).status.status == "PENDING"


# --- notifications over HTTP -------------------------------------------------------------------


def sending_app(**config) -> Flask:
    return make_app(
        SANDBOX_SEND_EVENTS=True,
        SANDBOX_EVENT_DELAY_SECONDS=0,
        SANDBOX_EVENT_BACKOFF_SECONDS=0,
        **config,
    )


def test_notification_is_posted_once_even_when_it_fails():
    app = sending_app()
    browser = app.test_client()
    url = f"{BASE}/placeto/webhooks/placetopay"
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, url, status=500)
        created = create(p2p(app))
        pay(browser, created)
        assert events.wait_for_events(10)
        assert len(mock.calls) == 1  # PlacetoPay never retries a notification
        request = mock.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    check_notification(
        {"url": request.url, "body": body}, p2p(app).query_session(created.request_id)
    )


def test_notification_retries_and_legacy_signature_when_configured():
    app = sending_app(
        SANDBOX_PLACETOPAY_NOTIFICATION_RETRIES=2,
        SANDBOX_PLACETOPAY_SIGNATURE="sha1",
        SANDBOX_PLACETOPAY_NOTIFICATION_URL="{base}/hooks/{slug}",
    )
    url = f"{BASE}/hooks/placeto"
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, url, body=requests.ConnectionError("caído"))
        mock.add(responses.POST, url, status=502)
        mock.add(responses.POST, url, status=200)
        created = create(p2p(app))
        pay(app.test_client(), created, "REJECTED")
        assert events.wait_for_events(10)
        assert len(mock.calls) == 3
        body = json.loads(mock.calls[-1].request.body)
    assert re.fullmatch(r"[0-9a-f]{40}", body["signature"])
    note = read_notification(body, ACC.secret_key)
    assert note.algorithm == "sha1" and note.request_id == created.request_id


def test_notification_failures_never_reach_the_payer(caplog):
    app = sending_app()
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{BASE}/placeto/webhooks/placetopay",
            body=requests.ConnectionError("caído"),
        )
        created = create(p2p(app))
        response = pay(app.test_client(), created)
        assert response.status_code == 200
        assert events.wait_for_events(10)
    assert "not delivered" in caplog.text
