"""The receipt e-mail: es-CO HTML and text with the company's colour, every receipt field, the
PDF from the receipt's own template (read back with pdftotext), a stable Message-ID, the
mailbox link; and /sandbox/correos, where a newcomer opens it."""

from __future__ import annotations

import email
import re
import shutil
import subprocess
from email import policy
from pathlib import Path

import pytest

from gaspay import outbox
from gaspay.outbox.pdf import receipt_pdf
from gaspay.payments import services
from gaspay.payments.models import PaymentAttempt
from tests.payments_helpers import answer, pending_attempt

FIELDS = (
    "Valor", "Empresa", "NIT", "Fecha y hora", "Estado", "Referencia", "Descripción", "Moneda",
    "Medio de pago", "Banco", "CUS", "Pagador", "Correo", "Dirección IP",
)  # fmt: skip


@pytest.fixture
def approved(make_outbox_app, make_bill):
    mail_app = make_outbox_app(None)
    tenant = mail_app.extensions["gaspay.tenants"]["insesp"]
    attempt = pending_attempt(tenant, make_bill(period="2026-11"))
    ok = services.apply_answer(
        attempt,
        answer(
            attempt,
            status="APPROVED",
            cus="CUS-4455667788",
            bank_name="Banco de Prueba",
            payment_method="PSE",
        ),
        "event",
    )
    assert ok
    from gaspay.extensions import db

    attempt = db.session.get(PaymentAttempt, attempt.id, populate_existing=True)
    return mail_app, tenant, attempt


def pdf_text(data: bytes, tmp_path: Path) -> str:
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) missing: make pdf-deps"
    path = tmp_path / "comprobante.pdf"
    path.write_bytes(data)
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return " ".join(done.stdout.replace("\u00a0", " ").split())


def the_mail(mail_app) -> email.message.EmailMessage:
    [path] = Path(mail_app.config["MAIL_DIR"]).glob("*.eml")
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def test_receipt_pdf_has_cus_amount_nit_and_company(approved, tmp_path):
    _app, tenant, attempt = approved
    text = pdf_text(receipt_pdf(tenant, attempt), tmp_path)
    for expected in ("CUS-4455667788", "$ 18.000", "800.123.456-1", tenant.legal_name, "Insesp"):
        assert expected in text, (expected, text)
    assert "Comprobante de pago" in text and attempt.reference in text
    for field in FIELDS:
        assert field in text


def test_the_receipt_mail_has_both_parts_every_field_and_the_pdf(approved, tmp_path):
    mail_app, tenant, attempt = approved
    assert outbox.run_pending()
    message = the_mail(mail_app)
    assert message["Subject"] == f"Insesp: comprobante de su pago {attempt.reference}"
    assert message["From"].startswith("Insesp <") and message["Reply-To"] == tenant.support_email
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert tenant.brand_color in html and 'lang="es-CO"' in html
    for field in FIELDS:
        assert f"<dt>{field}</dt>" in html and f"{field}: " in text
    for value in ("$ 18.000", "CUS-4455667788", "Banco de Prueba", "800.123.456-1"):
        assert value in html.replace("\u00a0", " ") and value in text.replace("\u00a0", " ")
    assert "¡Pago realizado con éxito!" in html and "Factura del Gas" in text
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename() == f"comprobante-{attempt.reference}.pdf"
    assert "CUS-4455667788" in pdf_text(pdf.get_content(), tmp_path)


def test_the_mail_link_opens_the_receipt_in_full(approved):
    mail_app, _tenant, attempt = approved
    outbox.run_pending()
    text = the_mail(mail_app).get_body(("plain",)).get_content()
    link = re.search(r"https?://\S+/insesp/pagos/\S+", text).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = mail_app.test_client().get("/" + path)
    assert page.status_code == 200 and "CUS-4455667788" in page.get_data(as_text=True)
    bare = mail_app.test_client().get(f"/insesp/pagos/{attempt.reference}")
    assert "CUS-4455667788" not in bare.get_data(as_text=True)


def test_a_repeat_is_the_same_message(approved):
    mail_app, _tenant, _attempt = approved
    outbox.run_pending()
    first = the_mail(mail_app)["Message-ID"]
    [message] = outbox.list_messages(kind="email")
    outbox.retry(message.id)
    outbox.run_pending()
    assert the_mail(mail_app)["Message-ID"] == first  # one file, the same identity
    assert len(outbox.get_message(message.id).deliveries) == 2


def test_sandbox_correos_lists_opens_and_downloads(approved):
    mail_app, _tenant, attempt = approved
    client = mail_app.test_client()
    assert "Aún no hay correos" in client.get("/sandbox/correos/").get_data(as_text=True)
    outbox.run_pending()
    listing = client.get("/sandbox/correos/").get_data(as_text=True)
    assert f"comprobante de su pago {attempt.reference}" in listing
    name = re.search(r'/sandbox/correos/([^"/]+\.eml)"', listing).group(1)
    shown = client.get(f"/sandbox/correos/{name}")
    assert shown.status_code == 200 and "CUS-4455667788" in shown.get_data(as_text=True)
    html = client.get(f"/sandbox/correos/{name}/html")
    assert html.status_code == 200 and "¡Pago realizado con éxito!" in html.get_data(as_text=True)
    assert "sandbox" in html.headers["Content-Security-Policy"]
    pdf = client.get(f"/sandbox/correos/{name}/adjuntos/0")
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-"
    assert pdf.headers["Content-Disposition"].startswith("attachment;")
    for bad in ("../gaspay.sqlite3", "x.txt", f"{name}/adjuntos/9", "nada.eml"):
        assert client.get(f"/sandbox/correos/{bad}").status_code == 404


def test_the_link_comes_from_public_url_and_is_left_out_when_unknown_in_production(approved):
    mail_app, _tenant, attempt = approved
    mail_app.config["PUBLIC_URL"] = "https://pagos.example.co"
    outbox.run_pending()
    text = the_mail(mail_app).get_body(("plain",)).get_content()
    assert f"https://pagos.example.co/insesp/pagos/{attempt.reference}?c=" in text
    [message] = outbox.list_messages(kind="email")
    outbox.retry(message.id)
    mail_app.config.update(PUBLIC_URL=None, PRODUCTION=True, SANDBOX=False)
    try:
        outbox.run_pending()
    finally:
        mail_app.config.update(PRODUCTION=False, SANDBOX=True)
    text = the_mail(mail_app).get_body(("plain",)).get_content()
    assert "/pagos/" not in text and "localhost" not in text  # no link rather than a wrong one
    assert "CUS-4455667788" in text
