"""Several bills in one payment and an abono, in Chromium on a phone, JavaScript on and off,
with axe and the page checks on every new page (issue 14)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import APPROVING_CARD, NOTICES, fact, log_in, pay_at_checkout
from tests.browser.test_accessibility import Audit, lookup, pay_by_pse, result, through_pse

pytestmark = pytest.mark.browser

TWO_BILLS = "0021056"  # the demo client with two payable bills


def test_two_bills_in_one_pse_payment(phones):
    audit = Audit(phones)
    payer = phones.open()
    page = payer.page
    page.goto("/insesp/factura")
    lookup(page, TWO_BILLS)
    boxes = page.get_by_role("checkbox", name=re.compile("Incluir esta factura"))
    expect(boxes).to_have_count(2)
    pay = page.get_by_role("button", name=re.compile(r"^Pagar \$"))
    expect(pay).to_have_count(1)
    total = pay.inner_text()
    audit(payer, "dos-facturas")

    # Unticking the older bill leaves it unpaid: refused (oldest first), then ticked again.
    boxes.first.uncheck()
    if not phones.javascript:
        page.get_by_role("button", name="Recalcular").click()
    expect(page.get_by_text("Primero debe pagar las facturas más antiguas")).to_be_visible()
    audit(payer, "seleccion-rechazada", announced="Primero debe pagar")
    page.get_by_role("checkbox", name=re.compile("Incluir esta factura")).first.check()
    if not phones.javascript:
        page.get_by_role("button", name="Recalcular").click()
    pay = page.get_by_role("button", name=re.compile(r"^Pagar \$"))
    expect(pay).to_have_text(total)

    pay.click()
    expect(page.get_by_role("heading", name=re.compile(r"^Pago PSE"))).to_be_visible()
    amount = total.removeprefix("Pagar ")
    expect(fact(page, "Total a pagar")).to_have_text(amount)
    audit(payer, "paso-banco-dos-facturas")
    # This client's bills carry no contact data: the payer types them.
    page.get_by_label("Correo electrónico").fill("pagador@correo.test")
    page.get_by_label("Teléfono celular").fill("3001234567")
    pay_by_pse(page, "Banco que aprueba (sandbox)")
    through_pse(page)
    result(page, "Aprobada")
    receipt = page.locator("#resultado-pago")
    expect(fact(receipt, "Valor")).to_have_text(amount)
    expect(receipt.locator("table.receipt-bills tbody tr")).to_have_count(2)
    audit(payer, "comprobante-dos-facturas")
    audit.assert_clean()


def test_an_abono_leaves_the_balance(phones):
    phones.allow_status(409, r"^/insesp/pse/pagar$")
    audit = Audit(phones)
    payer = phones.open()
    page = payer.page
    page.goto("/insesp/factura")
    lookup(page, "21053")
    page.get_by_label("Valor a abonar").fill("10000")
    page.get_by_role("button", name="Abonar a esta factura").click()
    expect(fact(page, "Valor a abonar")).to_have_text("$ 10.000")
    audit(payer, "paso-banco-abono")
    pay_by_pse(page, "Banco que aprueba (sandbox)")
    through_pse(page)
    result(page, "Aprobada")
    expect(fact(page.locator("#resultado-pago"), "Valor")).to_have_text("$ 10.000")

    page.goto("/insesp/factura")
    lookup(page, "21053")
    bill = page.get_by_role("article", name=re.compile("Factura del Gas"))
    expect(fact(bill, "Estado")).to_have_text("Abonada")
    expect(fact(bill, "Saldo pendiente")).to_have_text("$ 8.000")
    expect(bill.get_by_role("button", name="Pagar $ 8.000")).to_be_visible()
    audit(payer, "factura-abonada")

    page.get_by_label("Valor a abonar").fill("9000")  # more than the balance
    page.get_by_role("button", name="Abonar a esta factura").click()
    expect(page.get_by_role("alert")).to_contain_text("no puede ser mayor que el saldo")
    audit(payer, "abono-mayor-que-el-saldo", announced="no puede ser mayor que el saldo")
    audit.assert_clean()


def test_customer_pays_two_notices_at_once(phones, customer):
    audit = Audit(phones)
    payer = phones.open()
    page = log_in(payer, customer)
    page.goto(NOTICES)
    boxes = page.get_by_role("checkbox", name=re.compile("Seleccionar el aviso"))
    expect(boxes).to_have_count(2)
    for i in range(2):
        boxes.nth(i).check()
    audit(payer, "avisos-seleccionados")
    page.get_by_role("button", name="Pagar seleccionados").click()
    expect(page.get_by_role("heading", name="Pagar avisos seleccionados")).to_be_visible()
    total = fact(page, "Total a pagar").inner_text()
    audit(payer, "pagar-seleccionados")
    page.get_by_role("checkbox", name="Acepto los términos y condiciones").check()
    page.get_by_role("button", name="Pagar con Wompi").click()
    expect(page.get_by_role("heading", name="Continúe su pago en Wompi")).to_be_visible()
    expect(fact(page, "Valor a pagar")).to_have_text(total)
    page.get_by_role("button", name="Pagar con Wompi").click()
    pay_at_checkout(page, APPROVING_CARD)
    expect(page.get_by_role("heading", name="Resultado del pago")).to_be_visible()
    receipt = page.locator("#resultado-pago")
    expect(fact(receipt, "Valor")).to_have_text(total)
    expect(receipt.locator("table.receipt-bills tbody tr")).to_have_count(2)
    audit(payer, "comprobante-avisos")
    page.goto(NOTICES)
    expect(page.locator("#avisos")).not_to_contain_text("Estado: No Pagado")
    audit.assert_clean()
