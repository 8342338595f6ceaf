"""What the portal sends, end to end (issue 12): a payment approved in the sandbox, in Chromium;
the receipt e-mail opened at /sandbox/correos and its PDF read back with pdftotext; the
company's billing system receiving the signed webhook, verified as the spec tells a consumer.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from gaspay import create_app
from gaspay.extensions import db
from gaspay.outbox.worker import run_pending
from gaspay.sandbox import wait_for_events
from tests.browser.conftest import LOCAL_HOST, LiveServer, _free_port, _QuietHandler
from tests.browser.test_accessibility import bank_step, pay_by_pse, result, through_pse
from tests.conftest import base_config
from tests.outbox.conftest import Receiver, start_receiver, verify_from_spec

pytestmark = pytest.mark.browser

SECRET = "whsec_" + base64.b64encode(b"gaspay-browser-webhook-secret-32-bytes").decode()


@pytest.fixture(scope="module")
def receiver():
    rx = start_receiver(Receiver())
    yield rx
    rx.server.shutdown()
    rx.server.server_close()


@pytest.fixture(scope="module")
def live_server(database_url, tmp_path_factory, receiver):
    """The browser suite's live server, with Insesp's billing system listening for webhooks."""
    port = _free_port()
    url = f"http://{LOCAL_HOST}:{port}"
    app = create_app(
        base_config(
            database_url,
            SANDBOX_BASE_URL=url,
            SANDBOX_SEND_EVENTS=True,
            SANDBOX_EVENT_DELAY_SECONDS=0.2,
            ASYNC_URL_WAIT_SECONDS=5,
            ASYNC_URL_POLL_INTERVAL=0.2,
            GATEWAY_RETRIES=1,
            MAIL_DIR=str(tmp_path_factory.mktemp("mail")),
            INSESP_WEBHOOK_URL=receiver.url,
            INSESP_WEBHOOK_SECRET=SECRET,
            WORKER_RECONCILE_SECONDS=0,
        )
    )
    server = make_server(LOCAL_HOST, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield LiveServer(app=app, url=url, demo_dir=tmp_path_factory.mktemp("demo"))
    finally:
        wait_for_events(10)
        server.shutdown()
        server.server_close()
        thread.join(10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def deliver(live_server) -> None:
    """The worker's pass (make run starts it beside the portal)."""
    assert wait_for_events(10)
    with live_server.app.app_context():
        assert run_pending(app=live_server.app, timeout=20)
        db.session.remove()


def test_the_receipt_email_its_pdf_and_the_webhook(phones, live_server, receiver, tmp_path):
    tenant = live_server.app.extensions["gaspay.tenants"]["insesp"]
    payer = phones.open()
    page = payer.page
    page.goto("/insesp/factura")
    bank_step(page, "0021054")
    page.get_by_label("Correo electrónico").fill("pagador@correo.test")
    pay_by_pse(page, "Banco que aprueba (sandbox)")
    through_pse(page)
    result(page, "Aprobada")
    facts = "xpath=//dt[normalize-space()='{}']/following-sibling::dd[1]"
    cus = page.locator(facts.format("CUS")).inner_text()
    reference = page.locator(facts.format("Referencia")).inner_text().strip()
    assert cus.strip() not in ("", "—")
    deliver(live_server)

    # The receipt e-mail, as a newcomer opens it, and its PDF.
    page.goto("/sandbox/correos")
    mail = page.locator("li.bill", has_text="pagador@correo.test").first
    expect(mail).to_be_visible()
    href = mail.get_by_role("link", name="Descargar").first.get_attribute("href")
    answer = page.context.request.get(live_server.url + href)  # what the link downloads
    assert answer.ok and answer.headers["content-type"].startswith("application/pdf")
    pdf = tmp_path / "comprobante.pdf"
    pdf.write_bytes(answer.body())
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for fact in (cus.strip(), "$ 42.350", tenant.nit, tenant.legal_name):
        assert fact in text, (fact, text[:800])

    # The webhook, verified from the Standard Webhooks spec.
    assert receiver.wait_for(1, timeout=20)
    approved = [
        r
        for r in receiver.received
        if json.loads(r.body).get("type") == "payment.approved"
        and json.loads(r.body)["data"]["reference"] == reference
    ]
    assert len(approved) == 1
    verify_from_spec(SECRET, approved[0].headers, approved[0].body)
    data = json.loads(approved[0].body)["data"]
    assert (data["amount_cents"], data["cus"]) == (4_235_000, cus.strip())
    assert [b["amount_applied_cents"] for b in data["bills"]] == [4_235_000]
