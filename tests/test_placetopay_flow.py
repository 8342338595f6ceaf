"""PlacetoPay as a tenant's provider, through the neutral core: the PSE step, the return, the
signed notification, the job, and a tenant that switches provider with attempts still live."""

from __future__ import annotations

import base64
import dataclasses
import json
import re

import pytest
import requests
from sqlalchemy import select

from gaspay.billing.services import bill_token
from gaspay.extensions import db
from gaspay.gateways.placetopay import PlacetoPayClient
from gaspay.gateways.placetopay.adapter import PlacetoPayGateway
from gaspay.payments import gateway, reconcile, services
from gaspay.payments import transitions as T
from gaspay.payments.models import GatewayEvent, PaymentAttempt
from gaspay.sandbox import placetopay as sandbox
from tests.conftest import _empty_tables, csrf_from
from tests.payments_helpers import let_checks_through, open_pse_attempt, post_event
from tests.test_placetopay_tenancy import DEMO, TENANT_FILE
from tests.test_sandbox_placetopay import FlaskAdapter as _FlaskAdapter

SLUG = "gasprueba"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"gasprueba-webhook-secret-32-bytes!").decode()
BANK = {"type": "pse", "bank": "BANCO UNION COLOMBIANO", "person_type": "natural"}


class FlaskAdapter(_FlaskAdapter):
    """The emulator in the same app: its request must not clear the calling request's ``g``."""

    def send(self, request, **kwargs):
        from flask import g

        kept = dict(g.__dict__)
        try:
            return super().send(request, **kwargs)
        finally:
            g.__dict__.clear()
            g.__dict__.update(kept)


@pytest.fixture
def p2p_app(app, make_app, tmp_path, monkeypatch):
    """An app with the test tenant, its context on top of the ``app`` fixture's (which
    ``make_bill`` needs): ``current_app`` and its gateway registry are this app's."""
    target = tmp_path / "tenants"
    target.mkdir()
    for path in DEMO.glob("*.toml"):
        (target / path.name).write_text(path.read_text())
    (target / f"{SLUG}.toml").write_text(TENANT_FILE.format(slug=SLUG))
    app = make_app(
        TENANTS_DIR=str(target),
        GASPRUEBA_WEBHOOK_URL="https://facturacion.gasprueba.test/eventos",
        GASPRUEBA_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    http = requests.Session()
    http.mount("http://sandbox.test", FlaskAdapter(app))

    def factory(tenant, config):
        account = tenant.placetopay
        client = PlacetoPayClient(
            base_url=account.base_url,
            login=account.login,
            secret_key=account.secret_key,
            session=http,
            retries=0,
        )
        return PlacetoPayGateway(tenant, config, client=client)

    monkeypatch.setitem(app.extensions[gateway.REGISTRY], "placetopay", factory)
    with app.app_context():
        _empty_tables()
        sandbox.reset()
        yield app
        db.session.remove()


@pytest.fixture
def tenant(p2p_app):
    return p2p_app.extensions["gaspay.tenants"][SLUG]


def only_attempt() -> PaymentAttempt:
    db.session.rollback()
    return db.session.scalars(select(PaymentAttempt)).one()


def start(p2p_app, tenant, make_bill) -> PaymentAttempt:
    answer = post_pse_step(p2p_app, tenant, make_bill(tenant=SLUG))
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    attempt = only_attempt()
    assert answer.headers["Location"] == attempt.redirect_url
    assert "/sandbox/placetopay/session/" in attempt.redirect_url
    return attempt


def post_pse_step(p2p_app, tenant, bill):
    """The payer fills the PSE step and presses "Pagar"."""
    client = p2p_app.test_client()
    step = f"/{SLUG}/pse/pagar?factura={bill_token(tenant, bill)}"
    page = client.get(step).get_data(as_text=True)
    assert "PlacetoPay" in page
    token = re.search(r'name="factura" type="hidden" value="([^"]+)"', page).group(1)
    data = {
        "csrf_token": csrf_from(page),
        "factura": token,
        "tipo_cliente": "0",
        "banco": "P2P",
        "tipo_documento": "CC",
        "documento": "1099888777",
        "nombre": "Usuario Demo",
        "email": "usuario.demo@correo.test",
        "telefono": "3001234567",
        "acepta_terminos": "y",
        "acepta_datos": "y",
    }
    return client.post(
        f"/{SLUG}/pse/pagar", data=data, headers={"User-Agent": "Navegador de prueba/1.0"}
    )


def test_pse_step_creates_a_session_with_ip_and_user_agent(p2p_app, tenant, make_bill):
    attempt = start(p2p_app, tenant, make_bill)
    assert attempt.provider == "placetopay" and attempt.status == T.PENDING
    session = sandbox.get(int(attempt.gateway_txn_id))
    assert session.request["userAgent"] == "Navegador de prueba/1.0"
    assert session.request["ipAddress"] == "127.0.0.1"
    assert session.reference == attempt.reference


def test_the_return_alone_marks_nothing_paid(p2p_app, tenant, make_bill):
    attempt = start(p2p_app, tenant, make_bill)
    page = p2p_app.test_client().get(f"/{SLUG}/pagos/{attempt.reference}")
    assert page.status_code in (200, 404)
    assert only_attempt().status == T.PENDING  # the session is still pending at PlacetoPay


def test_signed_notification_is_verified_queried_and_idempotent(p2p_app, tenant, make_bill):
    attempt = start(p2p_app, tenant, make_bill)
    sandbox.pay(int(attempt.gateway_txn_id), BANK, "APPROVED")
    body = sandbox.build_notification(
        sandbox.get(int(attempt.gateway_txn_id)),
        sandbox.registry(p2p_app).by_slug[SLUG],
        "sha256",
    )
    client = p2p_app.test_client()
    forged = {**body, "signature": "sha256:" + "0" * 64}
    assert client.post(f"/{SLUG}/webhooks/placetopay", json=forged).status_code == 401
    assert only_attempt().status == T.PENDING
    first, outcome = post_event(client, f"/{SLUG}/webhooks/placetopay", json=body)
    assert first.status_code == 200 and outcome == "applied"
    paid = only_attempt()
    assert paid.status == T.APPROVED
    assert paid.cus and paid.bank_name == "BANCO UNION COLOMBIANO" and paid.payment_method == "PSE"
    again, outcome = post_event(client, f"/{SLUG}/webhooks/placetopay", json=body)
    assert again.status_code == 200 and outcome == "duplicate"
    assert db.session.scalars(select(GatewayEvent)).all()[0].outcome == "applied"


def test_a_lying_notification_changes_nothing_the_query_decides(p2p_app, tenant, make_bill):
    attempt = start(p2p_app, tenant, make_bill)
    found = sandbox.get(int(attempt.gateway_txn_id))
    merchant = sandbox.registry(p2p_app).by_slug[SLUG]
    approved = sandbox.status_object("APPROVED", "00", "Aprobada")
    fake = dataclasses.replace(found, status=approved) if dataclasses.is_dataclass(found) else None
    body = sandbox.build_notification(fake or found, merchant, "sha256")
    answer, _ = post_event(p2p_app.test_client(), f"/{SLUG}/webhooks/placetopay", json=body)
    assert answer.status_code == 200
    assert only_attempt().status == T.PENDING  # the session itself is still pending


def test_job_settles_through_the_attempts_provider(p2p_app, tenant, make_bill):
    attempt = start(p2p_app, tenant, make_bill)
    sandbox.pay(int(attempt.gateway_txn_id), BANK, "REJECTED")
    let_checks_through(attempt)
    moved = reconcile.check_attempt(tenant, only_attempt(), "job")
    assert moved and only_attempt().status == T.DECLINED


def test_switching_provider_keeps_live_attempts_on_the_old_one(
    p2p_app, tenant, make_bill, monkeypatch
):
    """A PlacetoPay attempt is still asked of PlacetoPay after the company moves to Wompi."""
    attempt = start(p2p_app, tenant, make_bill)
    moved = dataclasses.replace(tenant, providers=(("pse", "wompi"),))
    assert gateway.provider_for(moved, "pse") == "wompi"
    wompi_calls = []

    def no_wompi(tenant, config):
        wompi_calls.append(tenant.slug)
        raise AssertionError("Wompi must not be asked about a PlacetoPay attempt")

    monkeypatch.setitem(p2p_app.extensions[gateway.REGISTRY], "wompi", no_wompi)
    sandbox.pay(int(attempt.gateway_txn_id), BANK, "APPROVED")
    assert reconcile.check_attempt(moved, only_attempt(), "staff")
    assert only_attempt().status == T.APPROVED and wompi_calls == []
    # A new attempt records the new provider.
    other = open_pse_attempt(moved, make_bill(tenant=SLUG, client="7654321"))
    assert other.provider == "wompi"


def test_the_door_refuses_a_gateway_call_with_a_write_pending(p2p_app, tenant, make_bill):
    attempt = open_pse_attempt(tenant, make_bill(tenant=SLUG))
    row = db.session.get(PaymentAttempt, attempt.id)
    row.status_message = "escrito sin confirmar"
    with pytest.raises(gateway.TransactionOpen):
        gateway.adapter_for(tenant, "placetopay").status("1")
    db.session.rollback()
    services.transition(attempt.id, T.EXPIRE, "job")


def test_another_providers_answer_never_moves_a_placetopay_attempt(p2p_app, tenant, make_bill):
    """A Wompi event carrying a PlacetoPay attempt's reference (a company that switched, or
    holds both accounts) is recorded and changes nothing: no retry row, no bill paid."""
    from gaspay.payments.events import apply_notice
    from gaspay.payments.gateway import GatewayAnswer, Notice

    attempt = start(p2p_app, tenant, make_bill)
    foreign = GatewayAnswer(
        txn_id="12345-1790000000-wompi",
        status="APPROVED",
        reference=attempt.reference,
        amount_cents=attempt.amount_cents,
        currency=attempt.currency,
    )
    notice = Notice("k-foreign", foreign.txn_id, foreign.reference, "APPROVED", answer=foreign)
    outcome = apply_notice(tenant, "wompi", notice)
    assert outcome == "provider_mismatch"
    assert only_attempt().status == T.PENDING  # and no retry attempt was opened
    assert db.session.scalars(select(GatewayEvent)).one().outcome == "provider_mismatch"


def test_a_notification_for_a_session_placetopay_does_not_know_is_recorded_not_retried(
    p2p_app, tenant, make_bill
):
    attempt = start(p2p_app, tenant, make_bill)
    sandbox.pay(int(attempt.gateway_txn_id), BANK, "APPROVED")
    body = sandbox.build_notification(
        sandbox.get(int(attempt.gateway_txn_id)),
        sandbox.registry(p2p_app).by_slug[SLUG],
        "sha256",
    )
    sandbox.reset()  # PlacetoPay now answers 404 for the session
    answer, outcome = post_event(p2p_app.test_client(), f"/{SLUG}/webhooks/placetopay", json=body)
    assert answer.status_code == 200 and outcome == "query_refused"
    assert only_attempt().status == T.PENDING


def test_the_terms_never_link_placetopays_api_host(p2p_app, tenant, make_bill):
    bill = make_bill(tenant=SLUG)
    page = p2p_app.test_client().get(f"/{SLUG}/pse/pagar?factura={bill_token(tenant, bill)}")
    html = page.get_data(as_text=True)
    assert "tratamiento de mis datos personales" in html
    assert "sandbox/placetopay" not in html.split("acepta_terminos")[1].split("</fieldset>")[0]
    assert 'href="#"' not in html


def test_a_placetopay_payment_looks_like_any_other_to_payer_staff_and_billing(
    p2p_app, tenant, make_bill
):
    """Whatever the provider: the receipt, the receipt e-mail and the webhook (outbox), the
    staff page and the export carry the same facts (CUS, bank, amount per bill)."""
    from gaspay.outbox.models import OutboxMessage
    from gaspay.staff import exports
    from gaspay.timeutil import today_in_bogota

    bill = make_bill(tenant=SLUG, amount_cents=2_340_000)
    answer = post_pse_step(p2p_app, tenant, bill)
    assert answer.status_code == 303
    attempt = only_attempt()
    sandbox.pay(int(attempt.gateway_txn_id), BANK, "APPROVED")
    body = sandbox.build_notification(
        sandbox.get(int(attempt.gateway_txn_id)),
        sandbox.registry(p2p_app).by_slug[SLUG],
        "sha256",
    )
    answer, outcome = post_event(p2p_app.test_client(), f"/{SLUG}/webhooks/placetopay", json=body)
    assert answer.status_code == 200 and outcome == "applied"
    paid = only_attempt()
    assert paid.status == T.APPROVED and paid.cus
    # The outbox: the receipt e-mail and the signed webhook, written with the approval.
    messages = {(m.kind, m.topic): m for m in db.session.scalars(select(OutboxMessage))}
    assert ("email", "receipt") in messages
    hook = json.loads(json.loads(messages[("webhook", "payment.approved")].payload)["body"])
    data = hook["data"]
    assert data["reference"] == paid.reference and data["cus"] == paid.cus
    assert data["bank"] == "BANCO UNION COLOMBIANO" and data["amount_cents"] == 2_340_000
    assert data["bills"][0]["amount_applied_cents"] == 2_340_000
    # The export of the day.
    day = today_in_bogota()
    csv_text = b"".join(exports.build(tenant, "csv", day, day).chunks).decode("utf-8-sig")
    assert paid.reference in csv_text and paid.cus in csv_text
    assert "BANCO UNION COLOMBIANO" in csv_text and "23400,00" in csv_text
