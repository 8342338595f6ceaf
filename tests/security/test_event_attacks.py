"""Forged, replayed and tampered gateway events (promises 10-14), beyond tests/test_webhooks.py.

Wompi signs only the properties an event lists (by default transaction.id, status and
amount_in_cents) plus its timestamp. Whoever holds one authentic event — a log, a copy of the
gateway_events table, an intercepted delivery — can post it again with every *unsigned* field
changed (reference, currency, the bank URL) and the signature still verifies. Such a copy has
the same event key as the original: it must be a duplicate and nothing more.
"""

from __future__ import annotations

import io
import json
import time

import pytest
from sqlalchemy import func, select

from gaspay.extensions import db
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptTransition, GatewayEvent, PaymentAttempt
from gaspay.tenancy.secrets import sandbox_value
from tests import fakes
from tests.payments_helpers import pending_attempt, post_event

TXN = "1234-1-1"
BANK_URL = "https://registro.pse.test/banco?id=1234-1-1"
EVIL_URL = "https://evil.test/banco"
PREVIOUS_KEY_FIX = (
    "gaspay/payments/events.py applies an event before it looks at its key: a replayed copy "
    "with unsigned fields changed reaches the attempt (see docs/RELIABILITY.md, finding E-1)"
)


@pytest.fixture
def attempt(app, make_bill, insesp):
    return pending_attempt(insesp, make_bill(), txn_id=TXN)


def txn(attempt, status="APPROVED", **over):
    values = {"txn_id": TXN, "status": status, "reference": attempt.reference}
    values["amount"] = attempt.amount_cents
    values.update(over)
    return fakes.transaction(**values)


def post(client, body, headers, slug="insesp"):
    """The webhook's answer, after the worker's pass; ``.outcome``: what became of the event."""
    response, outcome = post_event(client, f"/{slug}/webhooks/wompi", data=body, headers=headers)
    response.outcome = outcome
    return response


def row(attempt) -> PaymentAttempt:
    db.session.rollback()
    return db.session.get(PaymentAttempt, attempt.id, populate_existing=True)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def tampered(body: bytes, change) -> str:
    event = json.loads(body)
    change(event["data"]["transaction"])
    return json.dumps(event)


# --------------------------------------------------------------------------- replayed


def test_the_same_event_many_times_moves_once_and_every_copy_gets_200(client, attempt, insesp):
    body, headers = fakes.event(txn(attempt), insesp.wompi.events_secret)
    outcomes = [post(client, body, headers) for _ in range(5)]
    assert [r.status_code for r in outcomes] == [200] * 5
    assert [r.outcome for r in outcomes] == ["applied"] + ["duplicate"] * 4
    assert row(attempt).status == T.APPROVED
    assert count(AttemptTransition) == 2  # created -> pending (setup), pending -> approved
    assert count(GatewayEvent) == 1


def test_an_old_pending_event_replayed_after_approval_changes_nothing(client, attempt, insesp):
    secret = insesp.wompi.events_secret
    pending, pending_headers = fakes.event(txn(attempt, "PENDING"), secret, timestamp=1_700_000_000)
    approved, approved_headers = fakes.event(txn(attempt), secret, timestamp=1_700_000_100)
    assert post(client, pending, pending_headers).status_code == 200
    assert post(client, approved, approved_headers).outcome == "applied"
    replay = post(client, pending, pending_headers)
    assert replay.status_code == 200 and replay.outcome == "duplicate"
    assert row(attempt).status == T.APPROVED


def test_a_replayed_copy_with_its_reference_changed_is_only_a_duplicate(
    client, attempt, insesp, make_bill
):
    """The copy names another live attempt of the same amount: nobody is touched or flagged."""
    other = pending_attempt(insesp, make_bill(client="0021054"), txn_id="1234-2-2")
    body, headers = fakes.event(txn(attempt), insesp.wompi.events_secret)
    assert post(client, body, headers).outcome == "applied"
    before = count(AttemptTransition)

    def change(t):
        t["reference"] = other.reference
        t["currency"] = "USD"

    response = post(client, tampered(body, change), headers)
    assert response.status_code == 200 and response.outcome == "duplicate"
    assert count(AttemptTransition) == before
    assert row(other).status == T.PENDING and row(other).review_reason is None
    assert row(attempt).status == T.APPROVED and row(attempt).review_reason is None


def test_a_replayed_pending_event_cannot_change_the_bank_link(client, attempt, insesp):
    """A payer who never reached the bank is offered "Continuar al banco" on the result page:
    a replayed copy must not point that button somewhere else."""
    body, headers = fakes.event(txn(attempt, "PENDING", url=BANK_URL), insesp.wompi.events_secret)
    assert post(client, body, headers).status_code == 200
    assert row(attempt).redirect_url == BANK_URL

    def change(t):
        t["payment_method"]["extra"]["async_payment_url"] = EVIL_URL

    response = post(client, tampered(body, change), headers)
    assert response.status_code == 200 and response.outcome == "duplicate"
    assert row(attempt).redirect_url == BANK_URL
    page = client.get(f"/insesp/pagos/{attempt.reference}").get_data(as_text=True)
    assert "evil.test" not in page


# --------------------------------------------------------------------------- tampered, forged


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.update(id="1234-9-9"),
        lambda t: t.update(status="DECLINED"),
        lambda t: t.update(amount_in_cents=t["amount_in_cents"] + 1),
    ],
    ids=["txn_id", "status", "amount"],
)
def test_a_copy_with_a_signed_field_changed_is_rejected(client, attempt, insesp, change):
    body, headers = fakes.event(txn(attempt, "PENDING"), insesp.wompi.events_secret)
    response = post(client, tampered(body, change), headers)
    assert response.status_code == 401
    assert row(attempt).status == T.PENDING and count(GatewayEvent) == 0


def test_an_event_signed_with_the_development_secret_is_refused_in_production(
    production_app, attempt, insesp
):
    """The sandbox's events secret is public (it is in the code): production never accepts it."""
    client = production_app().test_client()
    secret = sandbox_value("insesp", "events_secret")
    body, headers = fakes.event(txn(attempt), secret)
    assert post(client, body, headers).status_code == 401
    assert row(attempt).status == T.PENDING and count(GatewayEvent) == 0


def test_an_oversized_event_is_refused_unread(client, attempt, insesp):
    body, headers = fakes.event(txn(attempt), insesp.wompi.events_secret)
    event = json.loads(body)
    event["padding"] = "x" * (70 * 1024)
    response = post(client, json.dumps(event), headers)
    assert response.status_code in (400, 413)
    assert row(attempt).status == T.PENDING and count(GatewayEvent) == 0


class CountingStream(io.RawIOBase):
    """A request body of `size` bytes that counts how much of it the app reads."""

    def __init__(self, size: int):
        self.left = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b" " * n
        self.left -= n
        self.read_bytes += n
        return n


def test_a_chunked_event_body_is_not_read_past_the_limit(client, attempt):
    """gunicorn hands a chunked request over with `wsgi.input_terminated` and no length."""
    stream = CountingStream(8 * 1024 * 1024)
    response = client.post(
        "/insesp/webhooks/wompi",
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": stream, "wsgi.input_terminated": True},
    )
    assert response.status_code in (400, 413)
    assert stream.read_bytes <= 128 * 1024
    assert row(attempt).status == T.PENDING


# --------------------------------------------------------------------------- fast, no gateway


def test_the_webhook_answers_fast_without_calling_the_gateway(client, attempt, insesp, mocked):
    """Promise 14: the event is stored (and then applied from its own content) with no gateway
    call and no mail."""
    body, headers = fakes.event(txn(attempt), insesp.wompi.events_secret)
    started = time.perf_counter()
    response = post(client, body, headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.outcome == "applied"
    assert len(mocked.calls) == 0
    assert elapsed < 1.0, elapsed
