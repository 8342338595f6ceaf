"""The PlacetoPay client against a mocked gateway (responses): auth, create, query, cancel.

Request and answer shapes are docs/placetopay.md's. Expected values of the published examples are
copied from PlacetoPay's own documentation and SDK, each with its source; SHA-256 values, for
which nothing is published, are computed here from the documented formula with hashlib.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses

from gaspay.gateways.placetopay import (
    CreatedSession,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    NotFound,
    Person,
    PlacetoPayClient,
    SessionInfo,
    authentication,
    statuses,
    tran_key,
)
from gaspay.gateways.placetopay.auth import encode_nonce, seed_for

BASE = "https://checkout-test.placetopay.com"
LOGIN = "usuarioprueba"
SECRET = "p2p_secret_DO_NOT_LEAK"
NOW = datetime(2026, 4, 14, 17, 3, 9, tzinfo=UTC)


def b64_digest(algorithm: str, text: bytes) -> str:
    return base64.b64encode(hashlib.new(algorithm, text).digest()).decode()


# --- authentication: the published vectors (all SHA-1) --------------------------------------

# placetopay/web-checkout-api-docs, source/includes/_autenticacion.md (POST /api/session
# example): secretKey ABCD1234, nonce c9085e82debb82b0955579098be3d7ca sent as
# YzkwODVlODJkZWJiODJiMDk1NTU3OTA5OGJlM2Q3Y2E=, seed 2019-04-25T18:17:23-04:00,
# tranKey T0O+x3gNlQUf0iBxEuenPvBPlWs=. (The "i/RFwSHAh8d7YgtO3HME5kCnYy8=" printed above it on
# the same page matches neither SHA-1 nor SHA-256 of those inputs: docs/placetopay.md.)
OLD_DOCS_VECTOR = {
    "secret": "ABCD1234",
    "raw_nonce": "c9085e82debb82b0955579098be3d7ca",
    "nonce": "YzkwODVlODJkZWJiODJiMDk1NTU3OTA5OGJlM2Q3Y2E=",
    "seed": "2019-04-25T18:17:23-04:00",
    "tran_key": "T0O+x3gNlQUf0iBxEuenPvBPlWs=",
}
# dnetix/redirection, tests/Functionality/AuthenticationTest.php
# (testItOverridesTheAuthenticationSeedAndNonce): tranKey ABCD1234, seed
# 2016-10-26T21:37:00+00:00, nonce ifYEPnAcJbpDVR1t -> nonce aWZZRVBuQWNKYnBEVlIxdA==,
# tranKey Xi5xrRwrqPU21WE2JI4hyMaCvQ8=.
SDK_VECTOR = {
    "secret": "ABCD1234",
    "raw_nonce": "ifYEPnAcJbpDVR1t",
    "nonce": "aWZZRVBuQWNKYnBEVlIxdA==",
    "seed": "2016-10-26T21:37:00+00:00",
    "tran_key": "Xi5xrRwrqPU21WE2JI4hyMaCvQ8=",
}


@pytest.mark.parametrize("vector", [OLD_DOCS_VECTOR, SDK_VECTOR], ids=["old-docs", "sdk"])
def test_sha1_variant_reproduces_the_published_tran_keys(vector):
    auth = authentication(
        "login",
        vector["secret"],
        raw_nonce=vector["raw_nonce"],
        seed=vector["seed"],
        algorithm="sha1",
    )
    assert auth == {
        "login": "login",
        "tranKey": vector["tran_key"],
        "nonce": vector["nonce"],
        "seed": vector["seed"],
    }


@pytest.mark.parametrize("vector", [OLD_DOCS_VECTOR, SDK_VECTOR], ids=["old-docs", "sdk"])
def test_we_send_sha256_of_the_same_inputs(vector):
    auth = authentication(
        "login", vector["secret"], raw_nonce=vector["raw_nonce"], seed=vector["seed"]
    )
    raw = (vector["raw_nonce"] + vector["seed"] + vector["secret"]).encode()
    assert auth["tranKey"] == b64_digest("sha256", raw)
    assert auth["tranKey"] != vector["tran_key"]
    assert len(base64.b64decode(auth["tranKey"])) == 32  # raw digest bytes, not hex
    assert auth["nonce"] == vector["nonce"]


def test_every_authentication_has_a_fresh_nonce_and_a_seed_with_offset():
    first = authentication(LOGIN, SECRET, now=lambda: NOW)
    second = authentication(LOGIN, SECRET, now=lambda: NOW)
    assert first["nonce"] != second["nonce"] and first["tranKey"] != second["tranKey"]
    assert first["seed"] == "2026-04-14T17:03:09+00:00"
    raw = base64.b64decode(first["nonce"])
    assert first["tranKey"] == b64_digest("sha256", raw + first["seed"].encode() + SECRET.encode())
    assert len(first["login"]) <= 32 and len(first["tranKey"]) <= 64
    assert len(first["nonce"]) <= 255 and len(first["seed"]) <= 35
    assert seed_for(datetime(2023, 6, 21, 14, 56, 6, tzinfo=UTC)) == "2023-06-21T14:56:06+00:00"


def test_authentication_refuses_bad_input():
    with pytest.raises(ValueError):
        authentication("", SECRET)
    with pytest.raises(ValueError):
        authentication("x" * 33, SECRET)
    with pytest.raises(ValueError):
        tran_key("n", "s", "")
    with pytest.raises(ValueError):
        tran_key("n", "s", "k", "md5")
    with pytest.raises(ValueError):
        seed_for(datetime(2026, 1, 1))  # naive: no offset
    assert encode_nonce(b"\x00\xff") == "AP8="


# --- the client --------------------------------------------------------------------------


class FakeSleep:
    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleep():
    return FakeSleep()


@pytest.fixture
def client(sleep):
    return PlacetoPayClient(
        base_url=BASE + "/",
        login=LOGIN,
        secret_key=SECRET,
        timeout=7.0,
        retries=2,
        backoff=0.3,
        sleep=sleep,
        now=lambda: NOW,
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def sent(call) -> dict:
    return json.loads(call.request.body)


def assert_authenticated(call) -> None:
    """The request carries a valid SHA-256 auth object, as the server would recompute it."""
    assert call.request.headers["Content-Type"] == "application/json"
    auth = sent(call)["auth"]
    assert set(auth) == {"login", "tranKey", "nonce", "seed"}
    assert auth["login"] == LOGIN
    raw = base64.b64decode(auth["nonce"], validate=True)
    assert auth["tranKey"] == b64_digest("sha256", raw + auth["seed"].encode() + SECRET.encode())
    assert datetime.fromisoformat(auth["seed"]) == NOW


CREATED = {
    "status": {
        "status": "OK",
        "reason": "PC",
        "message": "La petición se ha creado exitosamente",
        "date": "2021-11-30T15:08:27-05:00",
    },
    "requestId": 1,
    "processUrl": "https://checkout-co.placetopay.com/session/1/cc9b8690b1f7228c78b759ce27d7e80a",
}


def create(client, **changes):
    arguments = {
        "reference": "GPABCDE12345",
        "description": "Factura  gas\n21053",
        "amount_cents": 1_800_000,
        "currency": "COP",
        "return_url": "https://portal.test/insesp/pagos/GPABCDE12345",
        "ip_address": "181.58.38.54",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    }
    arguments.update(changes)
    return client.create_session(**arguments)


def test_create_sends_the_documented_body_and_returns_the_session(client, rsps):
    rsps.post(BASE + "/api/session", json=CREATED)
    created = create(
        client,
        payment_method="pse",
        buyer=Person(
            document="1099888777",
            document_type="CC",
            name="Usuaria",
            surname="De Prueba",
            email="usuaria@correo.test",
            mobile="3001234567",
        ),
        cancel_url="https://portal.test/insesp/pagos/GPABCDE12345/cancelado",
        skip_result=True,
    )
    assert created == CreatedSession(
        request_id=1,
        process_url=CREATED["processUrl"],  # the host differs from the API base: use the answer
        status=created.status,
    )
    assert created.status.status == "OK" and created.status.reason == "PC"
    call = rsps.calls[0]
    assert call.request.url == BASE + "/api/session"
    assert_authenticated(call)
    body = sent(call)
    body.pop("auth")
    assert body == {
        "payment": {
            "reference": "GPABCDE12345",
            "description": "Factura gas 21053",
            "amount": {"currency": "COP", "total": 18000},  # whole pesos, a JSON number
            "allowPartial": False,
        },
        "returnUrl": "https://portal.test/insesp/pagos/GPABCDE12345",
        "cancelUrl": "https://portal.test/insesp/pagos/GPABCDE12345/cancelado",
        "ipAddress": "181.58.38.54",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
        "expiration": "2026-04-14T17:33:09+00:00",  # 30 minutes, sent always
        "locale": "es_CO",
        "buyer": {
            "document": "1099888777",
            "documentType": "CC",
            "name": "Usuaria",
            "surname": "De Prueba",
            "email": "usuaria@correo.test",
            "mobile": "3001234567",
        },
        "paymentMethod": "pse",
        "skipResult": True,
    }
    assert "notificationUrl" not in json.dumps(body)


def test_create_options_card_payer_and_decimals(client, rsps):
    rsps.post(BASE + "/api/session", json=CREATED)
    rsps.post(BASE + "/api/session", json=CREATED)
    create(
        client,
        payment_method="card",
        payer=Person(document="AB1234", document_type="pp", name="N" * 70),
        user_agent="",
        expiration=NOW + timedelta(minutes=5),
        locale=None,
    )
    create(client, amount_cents=1050, currency="USD")
    card = sent(rsps.calls[0])
    assert card["paymentMethod"] == "visa,master,amex,diners,discover,visa_electron"
    assert card["payer"] == {"document": "AB1234", "documentType": "PPN", "name": "N" * 60}
    assert card["userAgent"] == "unknown"  # the field is required; the browser sent none
    assert card["expiration"] == "2026-04-14T17:08:09+00:00"
    assert "locale" not in card and "skipResult" not in card and "cancelUrl" not in card
    usd = rsps.calls[1].request.body.decode()
    assert '"total": 10.5' in usd and '"currency": "USD"' in usd


@pytest.mark.parametrize(
    "changes",
    [
        {"reference": ""},
        {"reference": "R" * 33},
        {"amount_cents": 1_800_050},  # COP goes in whole pesos
        {"amount_cents": 0},
        {"amount_cents": 18000.0},
        {"currency": "pesos"},
        {"return_url": "/insesp/pagos/1"},
        {"return_url": "javascript:alert(1)"},
        {"return_url": "https://portal.test/" + "x" * 255},
        {"ip_address": "no-es-una-ip"},
        {"ip_address": None},
        {"expiration": NOW + timedelta(minutes=4)},
        {"expiration": datetime(2026, 4, 15, 12, 0)},
        {"payment_method": "nequi"},
        {"locale": "es-CO"},
        {"payer": Person(document="0123", document_type="CC")},
        {"payer": Person(document="900123456-7", document_type="NIT")},
        {"buyer": Person(document="1099888777", document_type="XX")},
        {"buyer": Person(email="a" * 75 + "@c.test")},
    ],
)
def test_create_refuses_bad_arguments_without_calling(client, rsps, changes):
    with pytest.raises(ValueError):
        create(client, **changes)
    assert len(rsps.calls) == 0


def test_person_problems_are_spanish_by_field():
    assert Person(document="0123", document_type="CC").problems() == {
        "document": "El número de documento no es un CC válido."
    }
    assert Person(document="1", document_type="XX").problems() == {
        "document_type": "El tipo de documento no es válido."
    }
    assert Person(document="900123456", document_type="NIT", email="x@y.co").problems() == {}


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ReadTimeout("slow"),
        requests.exceptions.ConnectionError("closed"),
        requests.exceptions.ChunkedEncodingError("cut"),
    ],
)
def test_create_is_never_retried_after_a_network_error(client, rsps, sleep, failure):
    rsps.post(BASE + "/api/session", body=failure)
    with pytest.raises(GatewayUnavailable):
        create(client)
    assert len(rsps.calls) == 1 and sleep.calls == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_create_is_never_retried_after_a_5xx(client, rsps, sleep, status):
    rsps.post(BASE + "/api/session", status=status, body="<html>Bad gateway</html>")
    with pytest.raises(GatewayUnavailable) as info:
        create(client)
    assert info.value.status_code == status
    assert len(rsps.calls) == 1 and sleep.calls == []


@pytest.mark.parametrize(
    "answer",
    [
        {"body": "not json"},
        {"json": ["a list"]},
        {"json": {"status": {"status": "OK"}, "processUrl": CREATED["processUrl"]}},
        {"json": {**CREATED, "requestId": "uno"}},
        {"json": {**CREATED, "processUrl": "javascript:alert(1)"}},
        {"json": {**CREATED, "processUrl": None}},
        {"json": {"requestId": 1, "processUrl": CREATED["processUrl"]}},  # no status
        {"status": 302, "headers": {"Location": "https://elsewhere.test"}},
    ],
)
def test_create_answer_we_cannot_read_is_unknown(client, rsps, answer):
    rsps.post(BASE + "/api/session", **answer)
    with pytest.raises(GatewayUnavailable):
        create(client)
    assert len(rsps.calls) == 1


def test_create_accepts_a_request_id_sent_as_digits(client, rsps):
    rsps.post(BASE + "/api/session", json={**CREATED, "requestId": "10008"})
    assert create(client).request_id == 10008


def test_create_failed_status_is_a_definite_refusal(client, rsps):
    failed = {
        "status": {
            "status": "FAILED",
            "reason": "payer_data_not_valid",
            "message": "Los datos del pagador 1099888777 no son válidos",
            "date": "2021-11-30T15:08:27-05:00",
        }
    }
    rsps.post(BASE + "/api/session", json=failed)
    with pytest.raises(GatewayRejected) as info:
        create(client)
    assert info.value.reason == "payer_data_not_valid"
    assert "1099888777" not in str(info.value)  # the message may echo personal data


def test_create_401_names_the_authentication_code(client, rsps):
    # docs/placetopay.md "Errors": HTTP 401, reason the number 401, the code ending the message.
    rsps.post(
        BASE + "/api/session",
        status=401,
        json={
            "status": {
                "status": "FAILED",
                "reason": 401,
                "message": "Authentication failed 102",
                "date": "2021-11-30T15:08:27-05:00",
            }
        },
    )
    with pytest.raises(GatewayRejected) as info:
        create(client)
    error = info.value
    assert error.status_code == 401 and error.reason == "401" and error.auth_code == 102
    assert "authentication code 102" in str(error)
    assert not isinstance(error, GatewayUnavailable)


def test_create_4xx_without_a_body_is_still_a_refusal(client, rsps):
    rsps.post(BASE + "/api/session", status=400, body="Bad Request")
    with pytest.raises(GatewayRejected) as info:
        create(client)
    assert info.value.status_code == 400 and info.value.reason is None


# --- query -----------------------------------------------------------------------------

# dnetix/redirection, tests/Mocks/RestCarrierMock.php, query() case 10008: the SDK's own fixture
# of a session answer (three approved transactions: card, card and PSE; totals as numbers and as
# strings; receipt as a number and as a string). Copied as published.
SDK_QUERY_10008 = json.loads(
    '{"requestId": 10008,"status": {"status": "APPROVED","reason": "00","message": "La petición '
    'ha sido aprobada exitosamente","date": "2021-09-14T19:57:23-05:00"},"request": {"locale": '
    '"es_CO","buyer": {"document": "1040035000","documentType": "CC","name": "Nakia","surname":'
    ' "Walker","email": "dnetix@yopmail.com","mobile": 3006108300},"payer": {"document": '
    '"1040035000","documentType": "CC","name": "Nakia","surname": "Walker","email": '
    '"dnetix@yopmail.com","mobile": 3006108300},"payment": {"reference": "800166551",'
    '"description": "Pago en micrositio","amount": {"currency": "COP","total": 3809000},'
    '"allowPartial": true,"subscribe": false},"fields": [{"keyword": "_processUrl_","value": '
    '"https://checkout-test.placetopay.com/session/1847214/3c8d4117e08c5970291c79dfa8d4237a",'
    '"displayOn": "none"}],"returnUrl": "https://dnetix.co/ping/test","ipAddress": '
    '"186.84.220.137","userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 14_6 like Mac OS X) '
    'AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.1.1 Mobile/15E148 Safari/604.1",'
    '"expiration": "2021-10-19T17:05:23-05:00"},"payment": [{"status": {"status": "APPROVED",'
    '"reason": "00","message": "Aprobada","date": "2021-09-14T19:57:09-05:00"},'
    '"internalReference": 1519097768,"paymentMethod": "master","paymentMethodName": "Master",'
    '"issuerName": "Banco del Pacifico, S.A.","amount": {"from": {"currency": "COP","total": '
    '2009000},"to": {"currency": "COP","total": 2009000},"factor": 1},"authorization": "999999",'
    '"reference": "800166551","receipt": 67429,"franchise": "RM_MC","refunded": false,'
    '"processorFields": [{"keyword": "merchantCode","value": "0010203040","displayOn": "none"},'
    '{"keyword": "terminalNumber","value": "ESB11134","displayOn": "none"},{"keyword": "bin",'
    '"value": "518030","displayOn": "none"},{"keyword": "expiration","value": "0125",'
    '"displayOn": "none"},{"keyword": "installments","value": 4,"displayOn": "none"},'
    '{"keyword": "lastDigits","value": "0005","displayOn": "none"}]},{"status": {"status": '
    '"APPROVED","reason": "00","message": "Aprobada","date": "2021-09-14T19:56:25-05:00"},'
    '"internalReference": 1519097729,"paymentMethod": "visa","paymentMethodName": "Visa",'
    '"issuerName": "JPMORGAN CHASE BANK, N.A.","amount": {"from": {"currency": "COP","total": '
    '800000},"to": {"currency": "COP","total": 800000},"factor": 1},"authorization": "000000",'
    '"reference": "800166551","receipt": 99967385,"franchise": "CR_VS","refunded": false,'
    '"processorFields": [{"keyword": "merchantCode","value": "011271442","displayOn": "none"},'
    '{"keyword": "terminalNumber","value": "00057742","displayOn": "none"},{"keyword": "bin",'
    '"value": "411111","displayOn": "none"},{"keyword": "expiration","value": "1122",'
    '"displayOn": "none"},{"keyword": "installments","value": 5,"displayOn": "none"},'
    '{"keyword": "lastDigits","value": "****1111","displayOn": "none"}]},{"status": {"status": '
    '"APPROVED","reason": "00","message": "Aprobada","date": "2021-09-14T19:55:55-05:00"},'
    '"internalReference": 1519097680,"paymentMethod": "pse","paymentMethodName": "Cuentas '
    'débito ahorro y corriente (PSE)","issuerName": "BANCO UNION COLOMBIANO","amount": {"from":'
    ' {"currency": "COP","total": "1000000.00"},"to": {"currency": "COP","total": "1000000.00"},'
    '"factor": 1},"authorization": "2408909","reference": "800166551","receipt": "1519097680",'
    '"franchise": "_PSE_","refunded": false,"processorFields": [{"keyword": "merchantCode",'
    '"value": "9002992280","displayOn": "none"},{"keyword": "terminalNumber","value": "001",'
    '"displayOn": "none"},{"keyword": "transactionCycle","value": "6","displayOn": "none"},'
    '{"keyword": "trazabilyCode","value": "2408909","displayOn": "none"}]}],"subscription": '
    "null}"
)
QUERY_URL = BASE + "/api/session/10008"


def test_query_parses_the_sdk_fixture_with_its_receipt_fields(client, rsps):
    rsps.post(QUERY_URL, json=SDK_QUERY_10008)
    info = client.query_session(10008)
    call = rsps.calls[0]
    assert_authenticated(call)
    assert set(sent(call)) == {"auth"}  # the body is {"auth": {...}} only
    assert info.request_id == 10008 and info.status.status == "APPROVED"
    assert info.status.reason == "00" and info.status.date == "2021-09-14T19:57:23-05:00"
    assert info.reference == "800166551"
    assert info.amount_cents == 380_900_000 and info.currency == "COP"
    assert info.is_final and info.gateway_input == "APPROVED"
    master, visa, pse = info.payments
    assert (master.receipt, master.amount_cents, master.cus) == ("67429", 200_900_000, None)
    assert master.processor_fields["installments"] == "4"
    assert visa.internal_reference == 1519097729 and visa.franchise == "CR_VS"
    assert pse.is_pse and pse.cus == "2408909" and not pse.cus_conflict
    assert pse.issuer_name == "BANCO UNION COLOMBIANO"
    assert pse.payment_method == "pse"
    assert pse.payment_method_name == "Cuentas débito ahorro y corriente (PSE)"
    assert pse.amount_cents == 100_000_000 and pse.currency == "COP"  # "1000000.00"
    assert pse.receipt == "1519097680" and pse.internal_reference == 1519097680
    assert pse.status.date == "2021-09-14T19:55:55-05:00" and not pse.refunded
    # Chosen by status and amount, never by position.
    settled = info.settle(reference="800166551", amount_cents=100_000_000, currency="COP")
    assert settled.gateway_input == statuses.APPROVED and settled.transaction is pse
    assert settled.review is None


def test_query_accepts_a_request_id_as_text(client, rsps):
    rsps.post(QUERY_URL, json=SDK_QUERY_10008)
    assert client.query_session("10008").request_id == 10008
    with pytest.raises(ValueError):
        client.query_session("../session")


def test_query_is_retried_on_5xx_and_network_errors_with_a_fresh_nonce(client, rsps, sleep):
    rsps.post(QUERY_URL, status=503)
    rsps.post(QUERY_URL, body=requests.exceptions.ConnectTimeout("slow"))
    rsps.post(QUERY_URL, json=SDK_QUERY_10008)
    assert client.query_session(10008).status.status == "APPROVED"
    nonces = [sent(c)["auth"]["nonce"] for c in rsps.calls]
    assert len(nonces) == 3 and len(set(nonces)) == 3
    for call in rsps.calls:
        assert_authenticated(call)
    assert len(sleep.calls) == 2 and all(0 < s <= 5 for s in sleep.calls)


def test_query_gives_up_after_its_retries(client, rsps, sleep):
    for _ in range(3):
        rsps.post(QUERY_URL, body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(GatewayUnavailable):
        client.query_session(10008)
    assert len(rsps.calls) == 3 and len(sleep.calls) == 2


@pytest.mark.parametrize(
    ("status", "error"), [(401, GatewayRejected), (404, NotFound), (400, GatewayRejected)]
)
def test_query_4xx_is_not_retried(client, rsps, status, error):
    body = {
        "status": {
            "status": "FAILED",
            "reason": "request_not_valid" if status == 404 else 401,
            "message": "Authentication failed 103" if status == 401 else "No existe",
            "date": "2021-11-30T15:08:27-05:00",
        }
    }
    rsps.post(QUERY_URL, status=status, json=body)
    with pytest.raises(error) as info:
        client.query_session(10008)
    assert len(rsps.calls) == 1
    if status == 401:
        assert info.value.auth_code == 103


def change(data: dict, path: str, value) -> dict:
    """A deep copy of ``data`` with ``path`` (``a.0.b``) set to ``value``."""
    copy = json.loads(json.dumps(data))
    node = copy
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return copy


@pytest.mark.parametrize(
    "answer",
    [
        {"status": {"status": "FAILED", "reason": "XN", "message": "x", "date": "d"}},
        change(SDK_QUERY_10008, "requestId", 10009),
        change(SDK_QUERY_10008, "status", None),
        change(SDK_QUERY_10008, "payment", {"not": "a list"}),
        change(SDK_QUERY_10008, "payment.2.amount.from.total", "1000000.005"),
        change(SDK_QUERY_10008, "payment.2.amount.from.total", "1e6"),
        change(SDK_QUERY_10008, "payment.2.amount.from.total", True),
        change(SDK_QUERY_10008, "payment.2.amount.from.total", -5),
        change(SDK_QUERY_10008, "payment.2.amount.from.total", None),
        change(SDK_QUERY_10008, "payment.2.amount.from.currency", None),
        change(SDK_QUERY_10008, "payment.2.refunded", "no"),
        change(SDK_QUERY_10008, "payment.2.status", {"reason": "00"}),
        change(SDK_QUERY_10008, "request.payment.amount.total", "mucho"),
    ],
)
def test_query_answers_we_cannot_read_are_unknown(client, rsps, answer):
    rsps.post(QUERY_URL, json=answer)
    with pytest.raises(GatewayUnavailable):
        client.query_session(10008)


def test_query_amounts_with_decimals_keep_exact_cents(client, rsps):
    text = json.dumps(change(SDK_QUERY_10008, "payment.2.amount.from.total", 0.0))
    text = text.replace('"total": 0.0', '"total": 18000.07')  # a JSON number, never a float
    rsps.post(QUERY_URL, body=text, content_type="application/json")
    assert client.query_session(10008).payments[2].amount_cents == 1_800_007


def pending_pse() -> dict:
    """A session still PENDING: a PSE debit waiting at the bank (reason ?-), docs shapes."""
    answer = change(
        SDK_QUERY_10008,
        "status",
        {
            "status": "PENDING",
            "reason": "PT",
            "message": "La petición se encuentra activa",
            "date": "2021-09-14T19:57:23-05:00",
        },
    )
    pse = answer["payment"][2]
    pse["status"] = {
        "status": "PENDING",
        "reason": "?-",
        "message": "La transacción se encuentra pendiente, consulte con su entidad financiera",
        "date": "2021-09-14T19:55:55-05:00",
    }
    answer["payment"] = [pse]
    return answer


def session(answer: dict) -> SessionInfo:
    return SessionInfo.from_api(answer, answer["requestId"])


def test_settle_pending_keeps_the_pending_debit_for_its_cus():
    settled = session(pending_pse()).settle(reference="800166551", amount_cents=100_000_000)
    assert settled.gateway_input == statuses.PENDING
    assert settled.transaction.cus == "2408909" and settled.review is None


def test_settle_rejected_is_declined_with_the_message():
    answer = change(
        SDK_QUERY_10008,
        "status",
        {
            "status": "REJECTED",
            "reason": "?C",
            "message": "El proceso de pago ha sido cancelado por el usuario",
            "date": "2016-10-12T01:44:37-05:00",
        },
    )
    answer["payment"] = None
    settled = session(answer).settle()
    assert settled.gateway_input == statuses.DECLINED and settled.transaction is None
    assert settled.message == "El proceso de pago ha sido cancelado por el usuario"


def test_settle_rejected_with_an_approved_try_goes_to_review():
    answer = change(SDK_QUERY_10008, "status.status", "REJECTED")
    settled = session(answer).settle()
    assert settled.gateway_input is None and settled.review


def test_settle_refunded_approval_is_voided():
    answer = change(SDK_QUERY_10008, "payment.2.refunded", True)
    settled = session(answer).settle(amount_cents=100_000_000)
    assert settled.gateway_input == statuses.VOIDED and settled.transaction.is_pse


def test_settle_approved_without_a_match_reports_what_was_approved():
    settled = session(SDK_QUERY_10008).settle(reference="OTRA", amount_cents=1)
    # APPROVED with the gateway's own amounts: the core's amount/reference check flags it.
    assert settled.gateway_input == statuses.APPROVED
    assert settled.transaction.reference == "800166551"
    none_approved = change(SDK_QUERY_10008, "payment", None)
    assert session(none_approved).settle().gateway_input is None


@pytest.mark.parametrize("status", ["APPROVED_PARTIAL", "PARTIAL_EXPIRED", "FAILED", "NUEVO"])
def test_settle_partial_and_unknown_statuses_are_no_definite_answer(status):
    settled = session(change(SDK_QUERY_10008, "status.status", status)).settle()
    assert settled.gateway_input is None and settled.review


def test_cus_conflict_is_visible():
    answer = change(SDK_QUERY_10008, "payment.2.authorization", "999")
    assert session(answer).payments[2].cus_conflict


# --- cancel ----------------------------------------------------------------------------


def test_cancel_once_and_refusal(client, rsps, sleep):
    ok = {"status": {"status": "OK", "reason": "00", "message": "Cancelada", "date": "d"}}
    refused = {
        "status": {
            "status": "FAILED",
            "reason": "action_not_allowed",
            "message": "No permitido",
            "date": "d",
        }
    }
    rsps.post(QUERY_URL + "/cancel", json=ok)
    rsps.post(QUERY_URL + "/cancel", status=400, json=refused)
    rsps.post(QUERY_URL + "/cancel", status=503)
    assert client.cancel_session(10008).status == "OK"
    assert_authenticated(rsps.calls[0])
    with pytest.raises(GatewayRejected) as info:
        client.cancel_session(10008)
    assert info.value.reason == "action_not_allowed"
    with pytest.raises(GatewayUnavailable):
        client.cancel_session(10008)
    assert len(rsps.calls) == 3 and sleep.calls == []


# --- statuses --------------------------------------------------------------------------


def test_every_documented_status_is_mapped_onto_table_inputs():
    from gaspay.payments import transitions

    inputs = {
        transitions.GATEWAY_PENDING,
        transitions.GATEWAY_APPROVED,
        transitions.GATEWAY_DECLINED,
        transitions.GATEWAY_ERROR,
        transitions.GATEWAY_VOIDED,
    }
    assert inputs == statuses.INPUTS  # the strings match the table's, without importing it
    session_statuses = {"PENDING", "APPROVED", "REJECTED", "APPROVED_PARTIAL", "PARTIAL_EXPIRED"}
    txn_statuses = {
        "APPROVED",
        "REJECTED",
        "PENDING",
        "PENDING_VALIDATION",
        "PENDING_CONFIRMATION",
        "FAILED",
        "REFUNDED",
        "ERROR",
        "UNKNOWN",
    }
    assert session_statuses <= set(statuses.SESSION_STATUSES)
    assert txn_statuses <= set(statuses.TRANSACTION_STATUSES)
    for value in [*statuses.SESSION_STATUSES.values(), *statuses.TRANSACTION_STATUSES.values()]:
        assert value is None or value in inputs
    assert statuses.session_input("REJECTED") == transitions.GATEWAY_DECLINED
    assert statuses.transaction_input("REFUNDED") == transitions.GATEWAY_VOIDED
    assert statuses.session_input("SOMETHING_NEW") is None
    assert statuses.transaction_input(None) is None


def test_the_package_imports_nothing_of_flask_payments_or_the_rest_of_gaspay():
    package = Path(statuses.__file__).parent
    pattern = re.compile(r"^\s*(?:from|import)\s+([\w.]+)", re.MULTILINE)
    for path in package.glob("*.py"):
        for module in pattern.findall(path.read_text(encoding="utf-8")):
            assert not module.startswith("flask"), (path.name, module)
            if path.name == "adapter.py" and module == "gaspay.payments.gateway":
                continue  # the adapter implements the neutral interface, and knows only that
            if module.startswith("gaspay"):
                assert module.startswith("gaspay.gateways.placetopay"), (path.name, module)


# --- secrets stay secret ------------------------------------------------------------------


def test_secret_never_in_repr_errors_or_logs(client, rsps, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.post(BASE + "/api/session", status=500)
    rsps.post(QUERY_URL, status=401, json={"status": {"status": "FAILED", "reason": 401}})
    errors: list[GatewayError] = []
    for call in (lambda: create(client), lambda: client.query_session(10008)):
        try:
            call()
        except GatewayError as exc:
            errors.append(exc)
    assert len(errors) == 2
    text = repr(client) + " ".join(repr(e) + str(e) for e in errors) + caplog.text
    assert SECRET not in text
    tran_keys = [sent(c)["auth"]["tranKey"] for c in rsps.calls]
    assert all(key not in text for key in tran_keys)
    assert "181.58.38.54" not in caplog.text
