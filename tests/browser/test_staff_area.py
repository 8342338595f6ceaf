"""The company's staff area in Chromium, at 360 px and 1280 px, JavaScript on and off, with axe
and the page checks on every page (issue 13): a payment made in the sandbox is found,
re-queried ("Consultar ahora"), exported and reconciled.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from gaspay.extensions import db
from gaspay.staff.auth import DEMO_TOTP_SECRET, totp
from gaspay.staff.demo import ensure_demo_staff
from gaspay.timeutil import today_in_bogota
from tests.browser.test_accessibility import Audit, bank_step, pay_by_pse, result, through_pse

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 800}


@pytest.fixture
def staff(live_server):
    with live_server.app.app_context():
        ensure_demo_staff({"insesp"})
        db.session.remove()
    return {"email": "admin@insesp.test", "password": "empresa-demo-2026"}


def pay_a_bill(phones) -> str:
    payer = phones.open("pagador")
    page = payer.page
    page.goto("/insesp/factura")
    bank_step(page, "0021054")
    pay_by_pse(page, "Banco que aprueba (sandbox)")
    through_pse(page)
    result(page, "Aprobada")
    facts = "xpath=//dt[normalize-space()='Referencia']/following-sibling::dd[1]"
    return page.locator(facts).inner_text().strip()


def both_sizes(audit, phone, state: str) -> None:
    for name, size in (("1280", DESKTOP), ("360", PHONE)):
        phone.page.set_viewport_size(size)
        audit(phone, f"{state}-{name}")


def test_staff_find_requery_export_and_reconcile(phones, live_server, staff):
    reference = pay_a_bill(phones)
    audit = Audit(phones)
    clerk = phones.open("empresa")
    page = clerk.page
    page.set_viewport_size(DESKTOP)

    page.goto("/insesp/empresa/")
    expect(page.get_by_label("Correo electrónico")).to_be_visible()
    both_sizes(audit, clerk, "ingresar")
    page.get_by_label("Correo electrónico").fill(staff["email"])
    page.get_by_label("Contraseña").fill(staff["password"])
    page.get_by_role("button", name="Ingresar").click()
    page.get_by_label("Código de verificación").fill(totp(DEMO_TOTP_SECRET).now())
    both_sizes(audit, clerk, "verificar")
    page.get_by_role("button", name="Verificar").click()
    expect(page.get_by_role("navigation", name="Área de la empresa")).to_be_visible()
    both_sizes(audit, clerk, "resumen")

    # Find the payment by its reference ("¿se aplicó mi pago?").
    page.get_by_role("link", name="Pagos").click()
    page.get_by_label("Buscar", exact=True).fill(reference)
    page.get_by_role("button", name="Filtrar").click()
    found = page.get_by_role("link", name=re.compile(reference))
    expect(found).to_be_visible()
    both_sizes(audit, clerk, "pagos")
    found.click()
    expect(page.get_by_role("heading", name=f"Pago {reference}")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Aprobad")
    both_sizes(audit, clerk, "pago")

    # "Consultar ahora": the gateway asked at once; the approved payment stays approved.
    page.get_by_role("button", name=re.compile("Consultar ahora")).click()
    expect(page.get_by_role("heading", name=f"Pago {reference}")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Aprobad")
    both_sizes(audit, clerk, "consultado")

    # Reconcile: today's collection file lists the payment.
    page.get_by_role("link", name="Exportar").click()
    expect(page.get_by_role("button", name="Descargar")).to_be_visible()
    both_sizes(audit, clerk, "exportar")
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    today = today_in_bogota().isoformat()
    answer = page.context.request.post(
        live_server.url + "/insesp/empresa/exportar",
        form={"csrf_token": csrf, "formato": "csv", "desde": today, "hasta": today},
        headers={"Referer": live_server.url + "/insesp/empresa/exportar"},
    )
    assert answer.ok, answer.text()[:500]
    text = answer.body().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert any(reference in row for row in rows), rows[:3]

    page.get_by_role("link", name="Revisiones").click()
    both_sizes(audit, clerk, "revisiones")
    page.get_by_role("link", name="Facturas").click()
    both_sizes(audit, clerk, "facturas")
    audit.assert_clean()
