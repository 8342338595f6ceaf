"""`POST /<slug>/webhooks/wompi`: signatures before any state change; idempotent; scoped."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.outbox import DEFAULT_SCHEDULE, OutboxMessage, retry
from gaspay.outbox.queue import claim
from gaspay.payments import inbox
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptTransition, GatewayEvent, PaymentAttempt
from gaspay.timeutil import utcnow
from tests import fakes
from tests.payments_helpers import apply_events, pending_attempt, post_event


@pytest.fixture
def attempt(app, make_bill, insesp):
    return pending_attempt(insesp, make_bill(), txn_id="1234-1-1")


def txn_for(attempt, status="APPROVED", **over):
    values = {
        "txn_id": "1234-1-1",
        "status": status,
        "reference": attempt.reference,
        "amount": attempt.amount_cents,
        "cus": "CUS-778899",
    }
    values.update(over)
    return fakes.transaction(**values)


def post(client, body, headers, slug="insesp"):
    """The webhook's answer, after the worker's pass; ``.outcome``: what became of the event."""
    response, outcome = post_event(client, f"/{slug}/webhooks/wompi", data=body, headers=headers)
    response.outcome = outcome
    return response


def status_of(attempt):
    return db.session.get(PaymentAttempt, attempt.id, populate_existing=True).status


def transitions_count():
    return db.session.scalar(select(func.count()).select_from(AttemptTransition))


def test_authentic_event_approves_without_csrf(client, attempt, insesp):
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    response = post(client, body, headers)
    assert response.status_code == 200 and response.outcome == "applied"
    assert status_of(attempt) == T.APPROVED
    assert db.session.get(PaymentAttempt, attempt.id).cus == "CUS-778899"


def test_checksum_is_compared_case_insensitively(client, attempt, insesp):
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    event = json.loads(body)
    event["signature"]["checksum"] = event["signature"]["checksum"].upper()
    headers["X-Event-Checksum"] = headers["X-Event-Checksum"].upper()
    assert post(client, json.dumps(event), headers).status_code == 200
    assert status_of(attempt) == T.APPROVED


def test_event_properties_are_read_from_the_event(client, attempt, insesp):
    props = [
        "transaction.status",
        "transaction.reference",
        "transaction.amount_in_cents",
        "transaction.id",
    ]
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret, properties=props)
    assert post(client, body, headers).status_code == 200
    assert status_of(attempt) == T.APPROVED


@pytest.mark.parametrize(
    "props",
    [
        ["transaction.id", "transaction.status"],
        ["transaction.id", "transaction.amount_in_cents"],
        ["transaction.status", "transaction.amount_in_cents", "transaction.reference"],
    ],
)
def test_an_event_that_does_not_sign_id_status_and_amount_is_refused(
    client, attempt, insesp, props
):
    """The sender does not choose which fields are authentic (outside review, point 10)."""
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret, properties=props)
    assert post(client, body, headers).status_code == 401
    assert status_of(attempt) == T.PENDING


@pytest.mark.parametrize(
    "tamper",
    [
        "bad_checksum",
        "no_signature",
        "status_changed",
        "amount_changed",
        "wrong_secret",
        "bad_header",
    ],
)
def test_forged_events_are_rejected_and_change_nothing(client, attempt, insesp, tamper):
    secret = "wrong" if tamper == "wrong_secret" else insesp.wompi.events_secret
    body, headers = fakes.event(txn_for(attempt), secret)
    event = json.loads(body)
    if tamper == "bad_checksum":
        event["signature"]["checksum"] = "0" * 64
        headers.pop("X-Event-Checksum")
    elif tamper == "no_signature":
        del event["signature"]
        headers.pop("X-Event-Checksum")
    elif tamper == "status_changed":
        event["data"]["transaction"]["status"] = "DECLINED"
    elif tamper == "amount_changed":
        event["data"]["transaction"]["amount_in_cents"] = 100
    elif tamper == "bad_header":
        headers["X-Event-Checksum"] = "f" * 64
    before = transitions_count()
    response = post(client, json.dumps(event), headers)
    assert response.status_code == 401
    assert status_of(attempt) == T.PENDING and transitions_count() == before
    assert db.session.scalar(select(func.count()).select_from(GatewayEvent)) == 0


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b"null"])
def test_garbage_is_refused(client, attempt, body):
    response = post(client, body, {"Content-Type": "application/json"})
    assert response.status_code in (400, 401)
    assert status_of(attempt) == T.PENDING


@pytest.mark.parametrize(
    "body",
    [
        "[" * 30_000 + "]" * 30_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"data": ' + "[" * 5_000 + "]" * 5_000 + "}",
    ],
    ids=["nested-lists", "nested-objects", "nested-inside-an-event"],
)
def test_deeply_nested_json_is_a_400_not_a_500(client, attempt, body):
    """Python's JSON parser gives up with RecursionError (not a ValueError) past ~1000 levels."""
    assert len(body.encode()) < 64 * 1024  # under the webhook's size limit: it is parsed
    response = post(client, body, {"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json == {"error": "invalid event"}
    assert status_of(attempt) == T.PENDING


@pytest.mark.parametrize(
    "body",
    [b'"texto"', b"12", b"true", b"[]", b'[{"event": "transaction.updated"}]', b"9" * 5000],
    ids=["string", "number", "boolean", "empty-list", "list-of-events", "huge-number"],
)
def test_a_body_that_is_not_a_json_object_is_a_400(client, attempt, body):
    response = post(client, body, {"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json == {"error": "invalid event"}
    assert status_of(attempt) == T.PENDING


def test_empty_events_secret_never_reaches_the_webhook(database_url):
    """Fail closed: without the sandbox an empty events secret stops start-up."""
    from gaspay import create_app
    from gaspay.config import ConfigError

    config = {"TESTING": True, "DATABASE_URL": database_url, "SANDBOX": False}
    for slug in ("INSESP", "INTERSERVICIOS"):
        for name in ("PUBLIC_KEY", "PRIVATE_KEY", "INTEGRITY_SECRET", "EVENTS_SECRET"):
            config[f"{slug}_WOMPI_{name}"] = f"value_{slug}_{name}"
    config["GASNOVA_PLACETOPAY_LOGIN"] = "gasnova_login"
    config["GASNOVA_PLACETOPAY_SECRET_KEY"] = "gasnova-secret-key"
    config["INSESP_WOMPI_EVENTS_SECRET"] = ""
    with pytest.raises(ConfigError, match="GASPAY_INSESP_WOMPI_EVENTS_SECRET"):
        create_app(config)


def test_same_event_twice_changes_state_once(client, attempt, insesp):
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    first = post(client, body, headers)
    second = post(client, body, headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.outcome == "duplicate"
    assert transitions_count() == 2  # created->pending, pending->approved


def test_late_and_out_of_order_events_keep_approved(client, attempt, insesp):
    secret = insesp.wompi.events_secret
    for i, status in enumerate(["APPROVED", "PENDING", "DECLINED"]):
        body, headers = fakes.event(txn_for(attempt, status), secret, timestamp=1_800_000_000 + i)
        assert post(client, body, headers).status_code == 200
    assert status_of(attempt) == T.APPROVED


def test_amount_mismatch_is_flagged_not_paid(client, attempt, insesp, make_bill):
    body, headers = fakes.event(txn_for(attempt, amount=100), insesp.wompi.events_secret)
    response = post(client, body, headers)
    assert response.status_code == 200 and response.outcome.startswith("mismatch")
    row = db.session.get(PaymentAttempt, attempt.id, populate_existing=True)
    assert row.status == T.PENDING and "valor" in row.review_reason


def test_event_for_unknown_reference_is_acknowledged(client, attempt, insesp):
    body, headers = fakes.event(
        fakes.transaction(txn_id="9-9-9", status="APPROVED", reference="GPNOPE000000"),
        insesp.wompi.events_secret,
    )
    response = post(client, body, headers)
    assert response.status_code == 200 and response.outcome == "unknown_reference"


def test_event_for_tenant_a_cannot_touch_tenant_b(client, make_bill, interservicios, insesp):
    bill = make_bill(tenant="interservicios", client="100245")
    attempt = pending_attempt(interservicios, bill, txn_id="5555-1-1")
    txn = txn_for(attempt, txn_id="5555-1-1")
    # Signed with Insesp's secret and posted to Insesp: Interservicios' attempt is not found.
    body, headers = fakes.event(txn, insesp.wompi.events_secret)
    response = post(client, body, headers, slug="insesp")
    assert response.outcome == "unknown_reference"
    # Signed with Insesp's secret but posted to Interservicios: rejected.
    assert post(client, body, headers, slug="interservicios").status_code == 401
    assert status_of(attempt) == T.PENDING


def test_webhook_is_the_only_csrf_exempt_post_in_production(database_url):
    from gaspay import create_app
    from tests.test_config import production

    app = create_app(production(database_url))
    csrf = app.extensions["csrf"]
    exempt = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        view = app.view_functions[rule.endpoint]
        if f"{view.__module__}.{view.__name__}" in csrf._exempt_views:
            exempt.append(rule.rule)
    slugs = sorted({rule.split("/")[1] for rule in exempt})
    assert "insesp" in slugs and "interservicios" in slugs
    assert sorted(exempt) == sorted(
        f"/{slug}/webhooks/{provider}" for slug in slugs for provider in ("placetopay", "wompi")
    )


# --- the inbox: stored in one write by the webhook, applied by the worker ----------------------


def stored_events():
    db.session.rollback()
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == inbox.KIND)).all()


def test_the_webhook_only_stores_the_event_and_the_worker_applies_it(client, attempt, insesp):
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    response = client.post("/insesp/webhooks/wompi", data=body, headers=headers)
    assert response.status_code == 200 and response.json == {"status": "ok", "outcome": "queued"}
    assert status_of(attempt) == T.PENDING
    assert db.session.scalar(select(func.count()).select_from(GatewayEvent)) == 0
    [message] = stored_events()
    assert message.tenant == "insesp" and message.status == "pending"
    apply_events()
    assert status_of(attempt) == T.APPROVED
    assert [e.outcome for e in db.session.scalars(select(GatewayEvent))] == ["applied"]
    assert [m.status for m in stored_events()] == ["delivered"]


def test_a_stored_event_applied_twice_moves_the_attempt_once(client, attempt, insesp):
    """A worker killed after the apply committed but before the delivery was recorded: the
    message is delivered again; the event's row makes the second apply a duplicate."""
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    assert post(client, body, headers).outcome == "applied"
    [message] = stored_events()
    retry(message.id)
    apply_events()
    assert status_of(attempt) == T.APPROVED and transitions_count() == 2
    assert db.session.scalar(select(func.count()).select_from(GatewayEvent)) == 1


def test_an_event_claimed_by_a_killed_worker_is_applied_once_its_lease_ends(
    client, attempt, insesp
):
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    assert client.post("/insesp/webhooks/wompi", data=body, headers=headers).status_code == 200
    assert claim("killed-worker", kinds=[inbox.KIND])  # then the process died
    apply_events()
    assert status_of(attempt) == T.PENDING  # its lease still holds
    with write_unit():
        db.session.execute(update(OutboxMessage).values(lease_until=utcnow()))
    apply_events()
    assert status_of(attempt) == T.APPROVED and transitions_count() == 2


def test_a_stored_event_for_a_tenant_the_worker_does_not_know_yet_is_retried(
    client, app, attempt, insesp
):
    """A worker started before the tenant was added: the event waits for one that knows it."""
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    assert client.post("/insesp/webhooks/wompi", data=body, headers=headers).status_code == 200
    with write_unit():
        db.session.execute(update(OutboxMessage).values(tenant="nueva"))
    apply_events()
    [message] = stored_events()
    assert (message.status, message.failures) == ("pending", 1) and "nueva" in message.last_error
    assert status_of(attempt) == T.PENDING


def test_a_stored_event_that_fails_for_good_is_logged_and_told_to_the_company(
    client, app, attempt, insesp, monkeypatch, caplog
):
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    assert client.post("/insesp/webhooks/wompi", data=body, headers=headers).status_code == 200
    monkeypatch.setattr(inbox, "apply_notice", lambda *args: "unavailable")
    with write_unit():  # the schedule's last attempt
        db.session.execute(update(OutboxMessage).values(failures=len(DEFAULT_SCHEDULE)))
    apply_events()
    [message] = stored_events()
    assert message.status == "failed"
    assert f"message {message.id}" in caplog.text and "not applied" in caplog.text
    [mail] = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == "event_trouble")
    ).all()
    text = json.loads(mail.payload)["text"]
    assert mail.destination == insesp.support_email
    assert attempt.reference in text and f"flask outbox retry {message.id}" in text
    assert status_of(attempt) == T.PENDING


def test_a_copy_of_an_event_that_failed_for_good_is_tried_again(
    client, app, attempt, insesp, monkeypatch
):
    """The gateway (or its operator) sending the event again after the worker gave up on it:
    the stored one is due again and applied; a copy of an applied one stays a duplicate."""
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    assert client.post("/insesp/webhooks/wompi", data=body, headers=headers).status_code == 200
    with monkeypatch.context() as patched:
        patched.setattr(inbox, "apply_notice", lambda *args: "unavailable")
        with write_unit():  # the schedule's last attempt
            db.session.execute(update(OutboxMessage).values(failures=len(DEFAULT_SCHEDULE)))
        apply_events()
    assert [m.status for m in stored_events()] == ["failed"]
    again = client.post("/insesp/webhooks/wompi", data=body, headers=headers)
    assert again.json == {"status": "ok", "outcome": "queued"}
    [message] = stored_events()
    assert (message.status, message.failures) == ("pending", 0)
    apply_events()
    assert status_of(attempt) == T.APPROVED and [m.status for m in stored_events()] == ["delivered"]
    third = client.post("/insesp/webhooks/wompi", data=body, headers=headers)
    assert third.json == {"status": "ok", "outcome": "duplicate"}
    assert len(stored_events()) == 1 and transitions_count() == 2


@pytest.mark.parametrize("odd", ["deeply-nested", "lone-surrogate"])
def test_an_odd_unsigned_field_does_not_stop_an_authentic_event(client, attempt, insesp, odd):
    """Fields outside the signature are the sender's to fill: the event is stored and applied."""
    body, headers = fakes.event(txn_for(attempt), insesp.wompi.events_secret)
    event = json.loads(body)
    extra = {"full_name": "Ana \ud800"}  # json.dumps writes it as the escape "\\ud800"
    if odd == "deeply-nested":
        for _ in range(900):
            extra = {"a": extra}
    event["data"]["transaction"]["customer_data"] = extra
    assert post(client, json.dumps(event), headers).outcome == "applied"
    assert status_of(attempt) == T.APPROVED
