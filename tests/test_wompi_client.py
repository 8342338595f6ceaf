"""The Wompi HTTP client against a mocked gateway (responses): no real network, no real sleep."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
import requests
import responses
from responses import matchers

from gaspay.gateways import wompi
from gaspay.gateways.wompi import (
    Acceptance,
    Bank,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    NotFound,
    Transaction,
    WompiClient,
    event_checksum,
    integrity_signature,
    verify_event,
)

API = "https://sandbox.wompi.co/v1"
PUB = "pub_test_PUBLIC123"
PRV = "prv_test_PRIVATE_DO_NOT_LEAK"
INTEGRITY = "test_integrity_SECRET_DO_NOT_LEAK"
EVENTS = "test_events_SECRET_DO_NOT_LEAK"
TXN_ID = "1132-903100443-27458"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FakeClock:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(clock):
    return WompiClient(
        api_url=API + "/",
        public_key=PUB,
        private_key=PRV,
        integrity_secret=INTEGRITY,
        timeout=7.0,
        retries=2,
        backoff=0.3,
        sleep=clock.sleep,
        clock=clock,
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def txn_data(**overrides) -> dict:
    data = {
        "id": TXN_ID,
        "created_at": "2024-05-02T15:04:05.000Z",
        "finalized_at": None,
        "amount_in_cents": 4490000,
        "reference": "GP-7F3K2Q",
        "customer_email": "ana@example.com",
        "currency": "COP",
        "payment_method_type": "PSE",
        "payment_method": {
            "type": "PSE",
            "user_type": 0,
            "user_legal_id": "1099888777",
            "user_legal_id_type": "CC",
            "financial_institution_code": "1",
            "payment_description": "Factura gas 21053",
            "extra": {},
        },
        "status": "PENDING",
        "status_message": None,
        "redirect_url": "https://portal.example/pagos/retorno",
        "taxes": [],
    }
    data.update(overrides)
    return data


def with_extra(**extra) -> dict:
    data = txn_data()
    data["payment_method"]["extra"] = extra
    return data


# --------------------------------------------------------------------------- signatures


def test_integrity_signature_is_plain_sha256_of_the_concatenation():
    expected = hashlib.sha256(b"GP-7F3K2Q4490000COPtest_integrity_abc").hexdigest()
    assert integrity_signature("GP-7F3K2Q", 4490000, "COP", "test_integrity_abc") == expected
    assert expected == expected.lower()


def test_integrity_signature_puts_expiration_time_right_after_currency():
    expiration = "2023-06-09T20:28:50.000Z"
    expected = hashlib.sha256(
        b"GP-7F3K2Q4490000COP2023-06-09T20:28:50.000Ztest_integrity_abc"
    ).hexdigest()
    signed = integrity_signature("GP-7F3K2Q", 4490000, "COP", "test_integrity_abc", expiration)
    assert signed == expected
    assert signed != integrity_signature("GP-7F3K2Q", 4490000, "COP", "test_integrity_abc")


@pytest.mark.parametrize(
    ("amount", "secret"),
    [(4490000.0, "test_integrity_abc"), (True, "test_integrity_abc"), (4490000, "")],
)
def test_integrity_signature_refuses_non_integer_amounts_and_empty_secrets(amount, secret):
    with pytest.raises(ValueError):
        integrity_signature("GP-1", amount, "COP", secret)


# --------------------------------------------------------------------------- acceptance


def test_merchant_acceptance_reads_both_tokens_without_auth(client, rsps):
    rsps.get(
        f"{API}/merchants/{PUB}",
        json={
            "data": {
                "id": 1,
                "presigned_acceptance": {
                    "acceptance_token": "tok-policy",
                    "permalink": "https://wompi.co/terminos.pdf",
                    "type": "END_USER_POLICY",
                },
                "presigned_personal_data_auth": {
                    "acceptance_token": "tok-personal",
                    "permalink": "https://wompi.co/datos.pdf",
                    "type": "PERSONAL_DATA_AUTH",
                },
            },
            "meta": {},
        },
    )
    assert client.merchant_acceptance() == Acceptance(
        acceptance_token="tok-policy",
        permalink="https://wompi.co/terminos.pdf",
        personal_data_token="tok-personal",
        personal_data_permalink="https://wompi.co/datos.pdf",
    )
    request = rsps.calls[0].request
    assert request.method == "GET"
    assert request.url == f"{API}/merchants/{PUB}"
    assert "Authorization" not in request.headers


def test_merchant_acceptance_without_personal_data_token_is_unknown(client, rsps):
    rsps.get(
        f"{API}/merchants/{PUB}",
        json={"data": {"presigned_acceptance": {"acceptance_token": "t", "permalink": "p"}}},
    )
    with pytest.raises(GatewayUnavailable):
        client.merchant_acceptance()


# --------------------------------------------------------------------------- banks


def test_pse_banks_keep_order_skip_malformed_and_drop_placeholder(client, rsps):
    rsps.get(
        f"{API}/pse/financial_institutions",
        json={
            "data": [
                {"financial_institution_code": "0", "financial_institution_name": "A continuación"},
                {"financial_institution_code": "1051", "financial_institution_name": "DAVIVIENDA"},
                {"financial_institution_code": "1007", "financial_institution_name": "BANCOLOMBIA"},
                {"financial_institution_code": "1001"},
                {"financial_institution_name": "SIN CODIGO"},
                "garbage",
                None,
                {"financial_institution_code": None, "financial_institution_name": "X"},
                {"financial_institution_code": 1019, "financial_institution_name": "COLPATRIA"},
                {"financial_institution_code": "1007", "financial_institution_name": "DUPLICADO"},
                {
                    "financial_institution_code": "1",
                    "financial_institution_name": "Banco que aprueba",
                },
            ],
            "meta": {},
        },
    )
    assert client.pse_banks() == [
        Bank("1051", "DAVIVIENDA"),
        Bank("1007", "BANCOLOMBIA"),
        Bank("1019", "COLPATRIA"),
        Bank("1", "Banco que aprueba"),
    ]
    request = rsps.calls[0].request
    assert request.method == "GET"
    assert request.url == f"{API}/pse/financial_institutions"
    assert request.headers["Authorization"] == f"Bearer {PUB}"


def test_pse_banks_answer_that_is_not_a_list_is_unknown(client, rsps):
    rsps.get(f"{API}/pse/financial_institutions", json={"data": {"1007": "BANCOLOMBIA"}})
    with pytest.raises(GatewayUnavailable):
        client.pse_banks()


# --------------------------------------------------------------------------- create


PSE_ARGS = dict(
    reference="GP-7F3K2Q",
    amount_in_cents=4490000,
    currency="COP",
    customer_email="ana@example.com",
    acceptance_token="tok-policy",
    accept_personal_auth="tok-personal",
    redirect_url="https://portal.example/pagos/retorno",
    user_type=0,
    legal_id_type="CC",
    legal_id="1099888777",
    bank_code="1007",
    description="Factura gas 21053",
    full_name="Ana María Pérez",
    phone_number="3001234567",
)


def test_create_pse_sends_every_documented_field_with_public_key(client, rsps):
    rsps.post(f"{API}/transactions", json={"data": txn_data(), "meta": {}}, status=201)
    txn = client.create_pse_transaction(**PSE_ARGS)

    request = rsps.calls[0].request
    assert request.method == "POST"
    assert request.url == f"{API}/transactions"
    assert request.headers["Authorization"] == f"Bearer {PUB}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "acceptance_token": "tok-policy",
        "accept_personal_auth": "tok-personal",
        "amount_in_cents": 4490000,
        "currency": "COP",
        "signature": sha256("GP-7F3K2Q" + "4490000" + "COP" + INTEGRITY),
        "customer_email": "ana@example.com",
        "reference": "GP-7F3K2Q",
        "redirect_url": "https://portal.example/pagos/retorno",
        "payment_method": {
            "type": "PSE",
            "user_type": 0,
            "user_legal_id_type": "CC",
            "user_legal_id": "1099888777",
            "financial_institution_code": "1007",
            "payment_description": "Factura gas 21053",
        },
        "customer_data": {"phone_number": "3001234567", "full_name": "Ana María Pérez"},
    }
    connect, read = request.req_kwargs["timeout"]
    assert 0 < connect <= read == 7.0
    assert txn.id == TXN_ID
    assert txn.status == "PENDING"
    assert txn.async_payment_url is None  # the creation answer never has the bank URL


def test_create_pse_strips_pipes_and_quotes_and_truncates_description(client, rsps):
    rsps.post(f"{API}/transactions", json={"data": txn_data(reference="GP-7F3K2Q")}, status=201)
    client.create_pse_transaction(
        **{
            **PSE_ARGS,
            "reference": ' GP-7F3|K2Q" ',
            "description": 'Factura "gas" | periodo 2024-05 contrato 0021053',
            "user_type": 1,
            "legal_id_type": "nit",
        }
    )
    body = json.loads(rsps.calls[0].request.body)
    assert body["reference"] == "GP-7F3K2Q"
    assert body["signature"] == sha256("GP-7F3K2Q4490000COP" + INTEGRITY)
    description = body["payment_method"]["payment_description"]
    assert description == "Factura gas periodo 2024-05 co"
    assert len(description) == 30
    assert body["payment_method"]["user_type"] == 1
    assert body["payment_method"]["user_legal_id_type"] == "NIT"


def test_create_pse_does_not_send_the_ip_unless_a_documented_field_is_set(
    client, rsps, monkeypatch
):
    rsps.post(f"{API}/transactions", json={"data": txn_data()}, status=201)
    rsps.post(f"{API}/transactions", json={"data": txn_data()}, status=201)
    client.create_pse_transaction(**PSE_ARGS, ip_address="190.24.1.7")
    assert "190.24.1.7" not in rsps.calls[0].request.body.decode()

    monkeypatch.setattr(wompi.client, "PSE_IP_FIELD", ("customer_data", "ip"))
    client.create_pse_transaction(**PSE_ARGS, ip_address="190.24.1.7")
    assert json.loads(rsps.calls[1].request.body)["customer_data"]["ip"] == "190.24.1.7"


@pytest.mark.parametrize(
    "change", [{"bank_code": "0"}, {"bank_code": " "}, {"user_type": 2}, {"amount_in_cents": 0}]
)
def test_create_pse_refuses_bad_input_before_calling(client, rsps, change):
    with pytest.raises(ValueError):
        client.create_pse_transaction(**{**PSE_ARGS, **change})
    assert len(rsps.calls) == 0


def test_create_pse_duplicate_reference_422_is_a_definite_rejection(client, rsps, clock):
    rsps.post(
        f"{API}/transactions",
        status=422,
        json={
            "error": {
                "type": "INPUT_VALIDATION_ERROR",
                "messages": {"reference": ["La referencia ya ha sido usada"]},
            }
        },
    )
    with pytest.raises(GatewayRejected) as caught:
        client.create_pse_transaction(**PSE_ARGS)
    assert not isinstance(caught.value, NotFound)
    assert caught.value.status_code == 422
    assert caught.value.error_type == "INPUT_VALIDATION_ERROR"
    assert caught.value.messages == {"reference": ["La referencia ya ha sido usada"]}
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("first", [requests.exceptions.ReadTimeout("slow"), None])
def test_create_pse_422_after_an_earlier_failed_try_is_unknown(client, rsps, first):
    if first is None:
        rsps.post(f"{API}/transactions", status=502, body="Bad Gateway")
    else:
        rsps.post(f"{API}/transactions", body=first)
    rsps.post(
        f"{API}/transactions",
        status=422,
        json={"error": {"type": "INPUT_VALIDATION_ERROR", "messages": {"reference": ["usada"]}}},
    )
    with pytest.raises(GatewayUnavailable) as caught:
        client.create_pse_transaction(**PSE_ARGS)
    assert isinstance(caught.value.__cause__, GatewayRejected)
    assert len(rsps.calls) == 2
    first_body, second_body = (c.request.body for c in rsps.calls)
    assert first_body == second_body  # same reference, same signature: no double charge


def test_create_pse_500_then_success_is_retried_with_the_same_body(client, rsps, clock):
    rsps.post(f"{API}/transactions", status=500, json={"error": {"type": "INTERNAL"}})
    rsps.post(f"{API}/transactions", status=201, json={"data": txn_data()})
    assert client.create_pse_transaction(**PSE_ARGS).id == TXN_ID
    assert len(rsps.calls) == 2
    assert rsps.calls[0].request.body == rsps.calls[1].request.body
    assert len(clock.sleeps) == 1 and clock.sleeps[0] >= 0.3


def test_create_pse_garbage_json_is_unknown_and_not_retried(client, rsps):
    rsps.post(f"{API}/transactions", status=201, body="<html>oops</html>")
    with pytest.raises(GatewayUnavailable):
        client.create_pse_transaction(**PSE_ARGS)
    assert len(rsps.calls) == 1


# --------------------------------------------------------------------------- get / errors


def test_get_transaction_reads_pse_extra(client, rsps):
    data = with_extra(
        async_payment_url="https://registro.pse.com.co/PSEUserRegister/StartTransaction.htm?x=1",
        traceability_code="3284766",
        ticket_id="1234567",
        bank_name="BANCOLOMBIA",
    )
    rsps.get(f"{API}/transactions/{TXN_ID}", json={"data": data, "meta": {}})
    txn = client.get_transaction(TXN_ID)
    assert txn.async_payment_url.startswith("https://registro.pse.com.co/")
    assert txn.cus == "3284766"
    assert txn.bank_name == "BANCOLOMBIA"
    assert txn.amount_in_cents == 4490000
    assert txn.reference == "GP-7F3K2Q"
    assert txn.currency == "COP"
    assert txn.payment_method_type == "PSE"
    assert txn.customer_email == "ana@example.com"
    assert txn.created_at == "2024-05-02T15:04:05.000Z"
    assert txn.finalized_at is None
    assert txn.raw == data
    request = rsps.calls[0].request
    assert request.method == "GET"
    assert "Authorization" not in request.headers


def test_transaction_without_extra_has_no_url_cus_or_bank():
    data = txn_data()
    del data["payment_method"]["extra"]
    txn = Transaction.from_api(data)
    assert (txn.async_payment_url, txn.cus, txn.bank_name) == (None, None, None)


def test_transaction_ignores_non_http_async_url_and_takes_numeric_cus():
    txn = Transaction.from_api(with_extra(async_payment_url="javascript:alert(1)", cus=998877))
    assert txn.async_payment_url is None
    assert txn.cus == "998877"


@pytest.mark.parametrize(
    "data",
    [
        txn_data(amount_in_cents="4490000"),
        txn_data(amount_in_cents=True),
        txn_data(id=None),
        txn_data(status=""),
        {k: v for k, v in txn_data().items() if k != "reference"},
        ["not", "an", "object"],
    ],
)
def test_transaction_with_garbage_fields_is_unknown(data):
    with pytest.raises(GatewayUnavailable):
        Transaction.from_api(data)


def test_transaction_id_is_one_escaped_path_segment(client, rsps):
    rsps.get(f"{API}/transactions/..%2Fmerchants%2Fx", json={"data": txn_data()})
    client.get_transaction("../merchants/x")
    assert rsps.calls[0].request.url == f"{API}/transactions/..%2Fmerchants%2Fx"


def test_get_transaction_404_is_not_found_with_reason(client, rsps):
    rsps.get(
        f"{API}/transactions/nope",
        status=404,
        json={"error": {"type": "NOT_FOUND_ERROR", "reason": "La entidad solicitada no existe"}},
    )
    with pytest.raises(NotFound) as caught:
        client.get_transaction("nope")
    assert caught.value.status_code == 404
    assert caught.value.error_type == "NOT_FOUND_ERROR"
    assert caught.value.reason == "La entidad solicitada no existe"
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_rejections_not_retried(client, rsps, clock, status):
    rsps.get(
        f"{API}/pse/financial_institutions",
        status=status,
        json={"error": {"type": "INVALID_ACCESS_TOKEN", "reason": "Se esperaba una llave"}},
    )
    with pytest.raises(GatewayRejected) as caught:
        client.pse_banks()
    assert not isinstance(caught.value, NotFound)
    assert caught.value.status_code == status
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def test_400_is_never_retried(client, rsps, clock):
    rsps.get(f"{API}/transactions/{TXN_ID}", status=400, body="bad request")
    with pytest.raises(GatewayRejected) as caught:
        client.get_transaction(TXN_ID)
    assert caught.value.status_code == 400
    assert caught.value.error_type is None and caught.value.messages == {}
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectTimeout("connect"),
        requests.exceptions.ReadTimeout("read"),
        requests.exceptions.ConnectionError("reset"),
    ],
)
def test_network_errors_are_retried_then_unknown(client, rsps, clock, error):
    rsps.get(f"{API}/transactions/{TXN_ID}", body=error)
    with pytest.raises(GatewayUnavailable):
        client.get_transaction(TXN_ID)
    assert len(rsps.calls) == 3  # retries + 1
    assert len(clock.sleeps) == 2


def test_500_always_is_unknown_after_retries_plus_one_calls(client, rsps, clock):
    rsps.get(f"{API}/transactions/{TXN_ID}", status=500, json={"error": "boom"})
    with pytest.raises(GatewayUnavailable) as caught:
        client.get_transaction(TXN_ID)
    assert caught.value.status_code == 500
    assert len(rsps.calls) == 3
    first, second = clock.sleeps
    assert 0.3 <= first <= 0.6  # backoff plus jitter
    assert 0.6 <= second <= 0.9  # doubled


def test_409_is_retried(client, rsps):
    rsps.get(f"{API}/transactions/{TXN_ID}", status=409, json={"error": {"type": "CONFLICT"}})
    rsps.get(f"{API}/transactions/{TXN_ID}", json={"data": txn_data()})
    assert client.get_transaction(TXN_ID).id == TXN_ID
    assert len(rsps.calls) == 2


def test_retries_zero_means_a_single_try(rsps, clock):
    quick = WompiClient(
        api_url=API,
        public_key=PUB,
        private_key=PRV,
        integrity_secret=INTEGRITY,
        retries=0,
        sleep=clock.sleep,
    )
    rsps.get(f"{API}/transactions/{TXN_ID}", status=503)
    with pytest.raises(GatewayUnavailable):
        quick.get_transaction(TXN_ID)
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"body": "not json at all"},
        {"json": {"meta": {}}},
        {"json": ["data"]},
        {"json": {"data": None}},
        {"json": {"data": "PENDING"}},
    ],
)
def test_unreadable_answers_are_unknown(client, rsps, kwargs):
    rsps.get(f"{API}/transactions/{TXN_ID}", **kwargs)
    with pytest.raises(GatewayUnavailable):
        client.get_transaction(TXN_ID)


def test_secrets_never_reach_logs_exceptions_or_repr(client, rsps, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.get(f"{API}/transactions", status=500)
    rsps.post(f"{API}/transactions", status=401, json={"error": {"type": "INVALID_ACCESS_TOKEN"}})
    errors = []
    for call in (
        lambda: client.find_transactions("GP-1"),
        lambda: client.create_pse_transaction(**PSE_ARGS),
    ):
        with pytest.raises(GatewayError) as caught:
            call()
        errors.append(caught.value)
    text = caplog.text + " ".join(str(e) for e in errors) + repr(client)
    for secret in (PRV, INTEGRITY):
        assert secret not in text
    assert "ana@example.com" not in caplog.text


# --------------------------------------------------------------------------- find


def test_find_transactions_uses_private_key_and_reads_a_list(client, rsps):
    declined = txn_data(id="1-1-1", status="DECLINED", finalized_at="2024-05-02T15:10:00.000Z")
    approved = txn_data(id="1-1-2", status="APPROVED")
    other = txn_data(id="1-1-3", reference="GP-7F3K2Q-OTHER")
    rsps.get(
        f"{API}/transactions",
        match=[matchers.query_param_matcher({"reference": "GP-7F3K2Q"})],
        json={"data": [declined, approved, other], "meta": {}},
    )
    found = client.find_transactions("GP-7F3K2Q")
    assert [(t.id, t.status) for t in found] == [("1-1-1", "DECLINED"), ("1-1-2", "APPROVED")]
    request = rsps.calls[0].request
    assert request.method == "GET"
    assert request.url == f"{API}/transactions?reference=GP-7F3K2Q"
    assert request.headers["Authorization"] == f"Bearer {PRV}"


def test_find_transactions_empty_and_single_object_answers(client, rsps):
    rsps.get(f"{API}/transactions", json={"data": []})
    rsps.get(f"{API}/transactions", json={"data": txn_data()})
    assert client.find_transactions("GP-7F3K2Q") == []
    assert [t.id for t in client.find_transactions("GP-7F3K2Q")] == [TXN_ID]


def test_find_transactions_with_an_unreadable_item_is_unknown(client, rsps):
    rsps.get(f"{API}/transactions", json={"data": [txn_data(), {"id": "x"}]})
    with pytest.raises(GatewayUnavailable):
        client.find_transactions("GP-7F3K2Q")


# --------------------------------------------------------------------------- polling


URL = "https://registro.pse.com.co/PSEUserRegister/StartTransaction.htm?enc=abc"


def test_wait_for_async_url_appearing_on_the_third_poll(client, rsps, clock):
    path = f"{API}/transactions/{TXN_ID}"
    rsps.get(path, json={"data": txn_data()})
    rsps.get(path, json={"data": txn_data()})
    rsps.get(path, json={"data": with_extra(async_payment_url=URL)})
    txn = client.wait_for_async_url(TXN_ID, timeout=10, interval=1.5)
    assert txn.async_payment_url == URL
    assert len(rsps.calls) == 3
    assert clock.sleeps == [1.5, 1.5]


def test_wait_for_async_url_that_never_appears_returns_the_last_transaction(client, rsps, clock):
    rsps.get(f"{API}/transactions/{TXN_ID}", json={"data": txn_data()})
    txn = client.wait_for_async_url(TXN_ID, timeout=5, interval=1)
    assert txn.id == TXN_ID and txn.status == "PENDING"
    assert txn.async_payment_url is None
    assert clock.now == 5
    assert len(rsps.calls) == 6  # t = 0, 1, 2, 3, 4, 5


def test_wait_for_async_url_stops_on_a_final_status(client, rsps, clock):
    rsps.get(f"{API}/transactions/{TXN_ID}", json={"data": txn_data(status="DECLINED")})
    txn = client.wait_for_async_url(TXN_ID, timeout=30, interval=1)
    assert txn.status == "DECLINED"
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def test_wait_for_async_url_swallows_network_errors_with_single_tries(client, rsps, clock):
    path = f"{API}/transactions/{TXN_ID}"
    rsps.get(path, body=requests.exceptions.ReadTimeout("slow"))
    rsps.get(path, status=503)
    rsps.get(path, status=404, json={"error": {"type": "NOT_FOUND_ERROR"}})
    rsps.get(path, json={"data": with_extra(async_payment_url=URL)})
    txn = client.wait_for_async_url(TXN_ID, timeout=10, interval=2)
    assert txn.async_payment_url == URL
    assert len(rsps.calls) == 4  # the polling loop is the retry: no inner backoff tries
    assert clock.sleeps == [2, 2, 2]


def test_wait_for_async_url_never_read_is_unknown(client, rsps, clock):
    rsps.get(f"{API}/transactions/{TXN_ID}", status=500)
    with pytest.raises(GatewayUnavailable):
        client.wait_for_async_url(TXN_ID, timeout=3, interval=1)
    assert len(rsps.calls) == 4


def test_wait_for_async_url_propagates_auth_rejections(client, rsps):
    rsps.get(f"{API}/transactions/{TXN_ID}", status=401)
    with pytest.raises(GatewayRejected):
        client.wait_for_async_url(TXN_ID, timeout=3, interval=1)
    assert len(rsps.calls) == 1


# --------------------------------------------------------------------------- events


def make_event(properties=None, secret=EVENTS, **transaction) -> dict:
    txn = {
        "id": TXN_ID,
        "status": "APPROVED",
        "amount_in_cents": 4490000,
        "reference": "GP-7F3K2Q",
        "currency": "COP",
    }
    txn.update(transaction)
    properties = properties or [
        "transaction.id",
        "transaction.status",
        "transaction.amount_in_cents",
    ]
    # Written out by hand, independently of the module: values in order, timestamp, secret.
    values = "".join(str(txn[p.split(".", 1)[1]]) for p in properties)
    checksum = sha256(values + "1530291411" + secret)
    return {
        "event": "transaction.updated",
        "data": {"transaction": txn},
        "environment": "test",
        "signature": {"properties": properties, "checksum": checksum},
        "timestamp": 1530291411,
        "sent_at": "2018-07-20T16:45:05.000Z",
    }


def test_event_checksum_matches_an_independent_computation():
    event = make_event()
    expected = sha256(f"{TXN_ID}APPROVED4490000" + "1530291411" + EVENTS)
    assert event_checksum(event, EVENTS) == expected
    assert verify_event(event, EVENTS)
    assert verify_event(event, EVENTS, header_checksum=expected)


def test_uppercase_checksums_are_accepted():
    event = make_event()
    upper = event["signature"]["checksum"].upper()
    event["signature"]["checksum"] = upper
    assert verify_event(event, EVENTS, header_checksum=upper)


def test_wrong_checksum_or_wrong_secret_is_rejected():
    event = make_event()
    assert not verify_event(event, "test_events_other")
    event["signature"]["checksum"] = sha256("something else")
    assert not verify_event(event, EVENTS)


def test_tampered_data_is_rejected():
    event = make_event()
    event["data"]["transaction"]["amount_in_cents"] = 100
    assert not verify_event(event, EVENTS)


@pytest.mark.parametrize("secret", ["", None])
def test_an_empty_secret_rejects_every_event(secret):
    event = make_event(secret="")  # even one signed with the empty secret
    assert not verify_event(event, secret)
    assert event_checksum(event, secret) is None


def test_missing_signature_is_rejected():
    event = make_event()
    del event["signature"]
    assert event_checksum(event, EVENTS) is None
    assert not verify_event(event, EVENTS, header_checksum="00" * 32)


def test_properties_order_matters():
    forward = make_event()
    backward_props = list(reversed(forward["signature"]["properties"]))
    backward = make_event(properties=backward_props)
    assert event_checksum(forward, EVENTS) != event_checksum(backward, EVENTS)
    assert verify_event(backward, EVENTS)  # the order is read from the event itself
    forward["signature"]["properties"] = backward_props
    assert not verify_event(forward, EVENTS)


def test_extra_properties_are_read_from_the_event():
    event = make_event(
        properties=[
            "transaction.id",
            "transaction.status",
            "transaction.amount_in_cents",
            "transaction.reference",
            "transaction.currency",
        ]
    )
    assert verify_event(event, EVENTS)


def test_an_event_must_sign_the_transaction_id_status_and_amount():
    event = make_event(properties=["transaction.reference", "transaction.currency"])
    assert not verify_event(event, EVENTS)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda e: e["signature"].update(properties=["transaction.missing"]),
        lambda e: e["signature"].update(properties=["transaction.id.deeper"]),
        lambda e: e["signature"].update(properties="transaction.id"),
        lambda e: e["signature"].update(properties={"transaction.id": 0}),
        lambda e: e["signature"].update(properties=[]),
        lambda e: e["signature"].update(properties=[None]),
        lambda e: e["signature"].pop("properties"),
        lambda e: e.pop("timestamp"),
        lambda e: e.pop("data"),
        lambda e: e["data"]["transaction"].update(status=None),
        lambda e: e.update(signature="abc"),
    ],
)
def test_malformed_events_have_no_checksum_and_are_rejected(breakage):
    event = make_event()
    breakage(event)
    assert event_checksum(event, EVENTS) is None
    assert not verify_event(event, EVENTS)


def test_header_must_match_when_present():
    event = make_event()
    good = event["signature"]["checksum"]
    assert not verify_event(event, EVENTS, header_checksum=sha256("forged"))
    assert verify_event(event, EVENTS, header_checksum=" " + good.upper() + " ")
    # Only the header: enough when it matches; no checksum at all fails.
    del event["signature"]["checksum"]
    assert verify_event(event, EVENTS, header_checksum=good)
    assert not verify_event(event, EVENTS, header_checksum="")
    assert not verify_event(event, EVENTS)


def test_non_ascii_checksum_is_rejected_without_crashing():
    event = make_event()
    event["signature"]["checksum"] = "ñ" * 64
    assert not verify_event(event, EVENTS)


def test_non_dict_event_is_rejected():
    assert event_checksum(["not", "an", "event"], EVENTS) is None
    assert not verify_event(None, EVENTS)
