"""Outbound webhooks: Standard Webhooks v1 signatures (the spec's vectors), a receiver that
fails in every way and recovers (retries follow the schedule), 410, redirects, SSRF rules and
the tenant configuration."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gaspay import outbox
from gaspay.config import ConfigError
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.outbox import DELIVERED, DISABLED, FAILED, OutboxMessage, Worker
from gaspay.outbox import webhooks as W
from gaspay.outbox.models import DisabledEndpoint
from gaspay.tenancy.config import TenantConfigError
from gaspay.tenancy.webhooks import parse_secrets, parse_webhooks
from tests.outbox.conftest import FAST_SCHEDULE, SECRET, Unverified, verify_from_spec
from tests.outbox.figures import record_figures

# The Standard Webhooks test vector (standard-webhooks/standard-webhooks,
# libraries/python/tests/test_webhooks.py: test_sign_function, test_invalid_signature…).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_PAYLOAD = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
VECTOR_WRONG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="


def test_signing_matches_the_specs_vector():
    assert W.sign([VECTOR_SECRET], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD) == VECTOR_SIGNATURE


def test_a_rotation_sends_one_signature_per_secret():
    other = "whsec_" + "QUJD" * 8
    header = W.sign([other, VECTOR_SECRET], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD)
    first, second = header.split(" ")
    assert first.startswith("v1,") and second == VECTOR_SIGNATURE


def test_the_spec_verifier_accepts_the_vector_and_refuses_its_corruption(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: VECTOR_TIMESTAMP + 10)
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert verify_from_spec(VECTOR_SECRET, headers, VECTOR_PAYLOAD.encode()) == {"test": 2432232314}
    with pytest.raises(Unverified):
        verify_from_spec(
            VECTOR_SECRET, {**headers, "webhook-signature": VECTOR_WRONG}, VECTOR_PAYLOAD.encode()
        )
    with pytest.raises(Unverified):
        verify_from_spec(VECTOR_SECRET, headers, VECTOR_PAYLOAD.encode() + b" ")
    monkeypatch.setattr(time, "time", lambda: VECTOR_TIMESTAMP + 301)
    with pytest.raises(Unverified, match="tolerance"):
        verify_from_spec(VECTOR_SECRET, headers, VECTOR_PAYLOAD.encode())


def event_messages(tenant, count=1, event="payment.approved"):
    with write_unit():
        for i in range(count):
            W.enqueue_event(tenant, event, {"reference": f"GPTEST{i:04d}", "n": i})
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "webhook").order_by(OutboxMessage.id)
        )
    )


def run_until(worker: Worker, done, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        worker.run_once(reconcile=False)
        time.sleep(0.02)
    assert done(), "the worker did not finish in time"


def status(message_id: int) -> OutboxMessage:
    db.session.commit()
    return db.session.get(OutboxMessage, message_id, populate_existing=True)


def test_every_delivery_verifies_with_the_package_and_the_spec(oapp, otenant, receiver):
    [message] = event_messages(otenant)
    assert outbox.run_pending()
    [delivery] = receiver.received
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["webhook-id"] == message.uid
    assert abs(int(delivery.headers["webhook-timestamp"]) - time.time()) < 30
    assert verify_from_spec(SECRET, delivery.headers, delivery.body)["type"] == "payment.approved"
    assert Webhook(SECRET).verify(delivery.body, delivery.headers)["data"]["n"] == 0
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(delivery.body, delivery.headers)
    assert status(message.id).status == DELIVERED


def test_a_receiver_that_fails_every_way_then_recovers_gets_it_once_on_schedule(
    oapp, otenant, receiver
):
    receiver.script = [("status", 500), ("sleep", 1.5), ("close",)]
    [message] = event_messages(otenant)
    run_until(Worker(oapp), lambda: status(message.id).status == DELIVERED)
    arrivals = [r.at for r in receiver.received]
    assert len(arrivals) == 4  # 500, timeout, closed connection, 200
    assert len(set(receiver.ids())) == 1  # one webhook-id on every retry
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # Retry n waits schedule[n-1] after the failed attempt ended (the timeout adds its 0.5 s).
    for gap, wait in zip(gaps, FAST_SCHEDULE, strict=True):
        assert gap >= wait - 0.05, (gaps, FAST_SCHEDULE)
        assert gap < wait + 1.5, (gaps, FAST_SCHEDULE)
    deliveries = status(message.id).deliveries
    assert [d.status_code for d in deliveries] == [500, None, None, 200]
    assert "timeout" in deliveries[1].error and "connection" in deliveries[2].error
    assert [d.ok for d in deliveries] == [False, False, False, True]
    assert all(d.next_attempt_at for d in deliveries[:3]) and deliveries[3].next_attempt_at is None
    assert all(verify_from_spec(SECRET, r.headers, r.body, tolerance=60) for r in receiver.received)
    record_figures(
        "webhook_receiver_faults",
        messages=1,
        received=len(arrivals),
        distinct_ids=len(set(receiver.ids())),
        lost=0 if status(message.id).status == DELIVERED else 1,
        gaps_seconds=[round(g, 2) for g in gaps],
        schedule_seconds=FAST_SCHEDULE,
    )


def test_when_the_schedule_runs_out_the_message_fails_and_staff_are_told(oapp, otenant, receiver):
    receiver.script = [("status", 500)] * 10
    [message] = event_messages(otenant)
    run_until(Worker(oapp, kinds=("webhook",)), lambda: status(message.id).status == FAILED)
    assert len(receiver.received) == len(FAST_SCHEDULE) + 1
    notice = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.topic == "webhook_trouble")
    )
    assert notice.destination == otenant.support_email
    assert "después de 4 intentos" in notice.payload


def test_retry_after_is_honoured(oapp, otenant, receiver):
    receiver.script = [("status", 503, {"Retry-After": "2"})]
    [message] = event_messages(otenant)
    run_until(Worker(oapp), lambda: status(message.id).status == DELIVERED)
    first, second = (r.at for r in receiver.received)
    assert second - first >= 1.9


def test_410_disables_the_endpoint_and_stops_deliveries(oapp, otenant, receiver):
    receiver.script = [("status", 410)]
    first, second = event_messages(otenant, count=2)
    run_until(Worker(oapp, batch=1), lambda: status(first.id).status == DISABLED)
    assert status(second.id).status == DISABLED  # pending ones stop too
    [off] = db.session.scalars(select(DisabledEndpoint)).all()
    assert off.url == receiver.url
    [third] = event_messages(otenant)[2:]
    outbox.run_pending()
    assert status(third.id).status == DISABLED
    assert len(receiver.received) == 1  # only the one that got the 410
    notices = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == "webhook_trouble")
    ).all()
    assert len(notices) == 1 and "410" in notices[0].payload

    cli = oapp.test_cli_runner()
    listed = cli.invoke(args=["outbox", "endpoints"])
    assert "DISABLED" in listed.output
    again = cli.invoke(args=["outbox", "enable-endpoint", "insesp", receiver.url, "--resend"])
    assert again.exit_code == 0 and "3 messages queued again" in again.output, again.output
    outbox.run_pending()
    assert {status(m.id).status for m in (first, second, third)} == {DELIVERED}
    record_figures(
        "webhook_410",
        messages=3,
        sent_after_410=len(receiver.received) - 1 - 3,
        delivered_after_reenable=3,
    )


def test_a_redirect_is_not_followed(oapp, otenant, receiver):
    receiver.script = [("status", 302, {"Location": "http://127.0.0.1:9/elsewhere"})]
    [message] = event_messages(otenant)
    outbox.run_pending()
    [delivery] = status(message.id).deliveries
    assert delivery.status_code == 302 and "redirects are not followed" in delivery.error
    assert status(message.id).status == "pending" and len(receiver.received) == 1


def test_operator_retry_sends_it_again_with_the_same_id(oapp, otenant, receiver):
    [message] = event_messages(otenant)
    outbox.run_pending()
    result = oapp.test_cli_runner().invoke(args=["outbox", "retry", str(message.id)])
    assert result.exit_code == 0 and "queued again" in result.output
    outbox.run_pending()
    assert receiver.ids() == [message.uid, message.uid]
    listed = oapp.test_cli_runner().invoke(
        args=["outbox", "list", "--tenant", "insesp", "--status", "delivered", "--deliveries"]
    )
    assert "payment.approved" in listed.output and listed.output.count("#") == 2
    shown = oapp.test_cli_runner().invoke(args=["outbox", "show", str(message.id)])
    assert message.uid in shown.output and "code=200" in shown.output
    assert oapp.test_cli_runner().invoke(args=["outbox", "retry", "999999"]).exit_code == 1


# --- where a production worker may connect ----------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.10", "169.254.169.254", "::1", "fc00::1",
     "fe80::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1"],  # noqa: S104
)  # fmt: skip
def test_production_refuses_non_public_addresses(address):
    assert W.refusal(address, production=True)
    assert W.refusal(address, production=False) is None


@pytest.mark.parametrize("address", ["8.8.8.8", "200.1.2.3", "2800:3f0:4005::200e"])
def test_production_allows_public_addresses(address):
    assert W.refusal(address, production=True) is None


def test_a_production_worker_does_not_call_an_endpoint_on_loopback(oapp, otenant, receiver):
    [message] = event_messages(otenant)
    oapp.config["PRODUCTION"] = True
    try:
        outbox.run_pending()
    finally:
        oapp.config["PRODUCTION"] = False
    [delivery] = status(message.id).deliveries
    assert "https" in delivery.error and receiver.received == []
    assert status(message.id).status == DISABLED


def test_the_address_check_runs_when_connecting(oapp, receiver, monkeypatch):
    monkeypatch.setattr(W, "_production", lambda: True)
    with pytest.raises(W.AddressRefused, match="loopback"):
        W.post(receiver.url.replace("127.0.0.1", "localhost"), b"{}", {}, 1.0)
    assert receiver.received == []


# --- configuration ----------------------------------------------------------------------------


def test_tenant_file_webhooks_are_parsed_and_checked(tmp_path):
    path = tmp_path / "insesp.toml"
    good = {
        "webhooks": [
            {
                "url": "https://erp.insesp.co/eventos",
                "events": ["payment.approved", "payment.voided"],
                "secret_env": "GASPAY_INSESP_ERP_WEBHOOK_SECRET",
            }
        ]
    }
    [spec] = parse_webhooks(good, path, TenantConfigError)
    assert spec.events == ("payment.approved", "payment.voided")
    for bad, field in (
        ({"webhooks": [{"url": "ftp://x", "secret_env": "GASPAY_X_SECRET"}]}, "url"),
        ({"webhooks": [{"url": "https://x.co"}]}, "secret_env"),
        (
            {"webhooks": [{"url": "https://x.co", "secret": "whsec_x", "secret_env": "A_B"}]},
            "unknown",
        ),
        (
            {"webhooks": [{"url": "https://x.co", "secret_env": "GASPAY_X", "events": ["pago"]}]},
            "events",
        ),
    ):
        with pytest.raises(TenantConfigError, match=field):
            parse_webhooks(bad, path, TenantConfigError)


def test_secrets_must_be_whsec_base64_of_24_to_64_bytes():
    assert parse_secrets(SECRET, "V", ConfigError) == (SECRET,)
    for bad in ("", "abc", "whsec_%%%", "whsec_" + "QUJD" * 2):
        with pytest.raises(ConfigError, match="V"):
            parse_secrets(bad, "V", ConfigError)


def test_a_url_without_its_secret_stops_the_start(make_app, receiver):
    with pytest.raises(ConfigError, match="GASPAY_INSESP_WEBHOOK_SECRET"):
        make_app(INSESP_WEBHOOK_URL=receiver.url)


def test_toml_endpoints_take_their_secret_from_the_environment(make_app, tmp_path, monkeypatch):
    import shutil

    from tests.outbox.conftest import ROOT

    tenants = tmp_path / "tenants"
    shutil.copytree(ROOT / "instance" / "tenants", tenants)
    path = tenants / "insesp.toml"
    path.write_text(
        path.read_text()
        + '\n[[webhooks]]\nurl = "http://127.0.0.1:9/erp"\nevents = ["payment.approved"]\n'
        'secret_env = "GASPAY_INSESP_ERP_SECRET"\nname = "erp"\n'
    )
    with pytest.raises(ConfigError, match="GASPAY_INSESP_ERP_SECRET"):
        make_app(TENANTS_DIR=str(tenants))
    monkeypatch.setenv("GASPAY_INSESP_ERP_SECRET", SECRET)
    app = make_app(TENANTS_DIR=str(tenants))
    [endpoint] = app.extensions["gaspay.tenants"]["insesp"].webhooks
    assert (endpoint.name, endpoint.url) == ("erp", "http://127.0.0.1:9/erp")
    assert endpoint.wants("payment.approved") and not endpoint.wants("payment.review")
    assert SECRET not in repr(app.extensions["gaspay.tenants"]["insesp"])


def test_event_body_is_the_spec_shape():
    body = W.event_body(
        "payment.approved", {"a": 1}, dt.datetime(2026, 12, 1, 15, 4, 5, tzinfo=dt.UTC)
    )
    assert body == '{"type":"payment.approved","timestamp":"2026-12-01T15:04:05Z","data":{"a":1}}'


def test_production_accepts_only_https_endpoints():
    from gaspay.tenancy.webhooks import bind_webhooks

    class Company:
        slug = "insesp"
        env_prefix = "INSESP"
        webhook_specs = ()

    config = {"INSESP_WEBHOOK_URL": "http://erp.insesp.co/hook", "INSESP_WEBHOOK_SECRET": SECRET}
    assert bind_webhooks(Company, config, ConfigError)[0].url.startswith("http://")
    with pytest.raises(ConfigError, match="https"):
        bind_webhooks(Company, {**config, "PRODUCTION": True}, ConfigError)
    config["INSESP_WEBHOOK_URL"] = "https://erp.insesp.co/hook"
    [endpoint] = bind_webhooks(Company, {**config, "PRODUCTION": True}, ConfigError)
    assert endpoint.secrets == (SECRET,) and endpoint.events is None
