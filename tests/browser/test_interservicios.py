"""Interservicios' guide (seed 001), end to end on a phone: log in → "Facturación" → "Mis avisos
de cobro" → a "No Pagado" notice → terms → "método de pago" → "Pagar con Wompi" → Wompi's
checkout (emulated) → back to the result; then the notice is "Pagado" and "Mis pagos" has the
receipt. Also a declined card (the notice stays "No Pagado", with a way to retry) and "Salir".

Every test runs with JavaScript on and off, against the real app and the local emulator.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import (
    APPROVING_CARD,
    DECLINING_CARD,
    LOGIN_HEADING,
    NOTICES,
    PAYMENTS,
    expect_print_button,
    fact,
    log_in,
    menu,
    notice_card,
    pay_at_checkout,
)

pytestmark = pytest.mark.browser

NOTICE = "AV-100245-02"
AMOUNT = "$ 46.300"
PAID_NOTICE = "AV-100245-01"
OTHER_UNPAID = "AV-100246-01"
PAY = "Pagar con Wompi"


def to_checkout(phone, customer) -> Page:
    """Seed 001, steps 1-7: from the client area to Wompi's checkout for NOTICE."""
    page = log_in(phone, customer)
    phone.shot("ingreso")

    menu(page, "Facturación", "Mis avisos de cobro")
    expect(page.get_by_role("heading", name="Mis avisos de cobro")).to_be_visible()
    expect(notice_card(page, PAID_NOTICE)).to_contain_text("Estado: Pagado")
    expect(notice_card(page, OTHER_UNPAID)).to_contain_text("Estado: No Pagado")
    card = notice_card(page, NOTICE)
    expect(card).to_contain_text("Estado: No Pagado")
    expect(card).to_contain_text(AMOUNT)
    phone.shot("avisos")

    card.click()
    expect(page.get_by_role("heading", name=f"Aviso de cobro {NOTICE}")).to_be_visible()
    expect(page.locator(".bill")).to_contain_text("Estado: No Pagado")
    expect(fact(page, "Total a pagar")).to_have_text(AMOUNT)
    terms = page.get_by_role("link", name="términos y condiciones")
    expect(terms).to_have_attribute("href", "/interservicios/clientes/terminos")
    page.get_by_role("checkbox", name="Acepto los términos y condiciones").check()
    page.get_by_role("radio", name=re.compile("^Wompi")).check()
    phone.shot("aviso")

    page.get_by_role("button", name=PAY).click()
    expect(page.get_by_role("heading", name="Continúe su pago en Wompi")).to_be_visible()
    expect(fact(page, "Valor a pagar")).to_have_text(AMOUNT)
    phone.shot("hacia-wompi")

    page.get_by_role("button", name=PAY).click()
    expect(page).to_have_url(re.compile(r"/sandbox/wompi/checkout/p/\?"))
    expect(fact(page, "Valor a pagar")).to_have_text(AMOUNT)
    return page


def result_of(page: Page, state: str):
    expect(page).to_have_url(re.compile(r"/interservicios/pagos/[^/?]+\?id="))
    expect(page.get_by_role("heading", name="Resultado del pago")).to_be_visible()
    receipt = page.locator("#resultado-pago")
    expect(fact(receipt, "Estado")).to_have_text(state)
    expect(receipt.locator(".status")).to_have_text(f"Transacción {state}")
    expect(fact(receipt, "Valor")).to_have_text(AMOUNT)
    return receipt


def test_paid_with_card(phones, customer):
    payer = phones.open()
    page = to_checkout(payer, customer)
    pay_at_checkout(page, APPROVING_CARD)

    receipt = result_of(page, "Aprobada")
    expect(receipt).to_contain_text("¡Pago realizado con éxito!")
    reference = fact(receipt, "Referencia").inner_text()
    expect(fact(receipt, "Empresa")).to_have_text("INTERSERVICIOS S.A.S. E.S.P.")
    expect(fact(receipt, "Correo")).to_have_text(customer["email"])
    expect(fact(receipt, "Medio de pago")).to_have_text(re.compile("CARD|Tarjeta", re.I))
    expect_print_button(page, phones.javascript)
    expect(page.get_by_role("link", name="Reintentar")).to_have_count(0)
    payer.shot("aprobado")

    menu(page, "Facturación", "Mis avisos de cobro")
    card = notice_card(page, NOTICE)
    expect(card).to_contain_text("Estado: Pagado")
    card.click()
    expect(page.get_by_role("status").filter(has_text="ya está pagado")).to_be_visible()
    expect(page.get_by_role("button", name=PAY)).to_have_count(0)
    payer.shot("aviso-pagado")

    page.get_by_role("link", name="Ver comprobante").click()
    expect(fact(page.locator("#resultado-pago"), "Referencia")).to_have_text(reference)

    menu(page, "Facturación", "Mis pagos")
    expect(page.get_by_role("heading", name="Mis pagos")).to_be_visible()
    receipts = page.locator("li.receipt")
    expect(receipts).to_have_count(1)
    expect(fact(receipts, "Referencia")).to_have_text(reference)
    expect(fact(receipts, "Estado")).to_have_text("Aprobada")
    expect(fact(receipts, "Valor")).to_have_text(AMOUNT)
    payer.shot("mis-pagos")

    receipts.get_by_role("link", name=re.compile(f"comprobante del pago {reference}$")).click()
    expect(page.get_by_role("heading", name="Resultado del pago")).to_be_visible()
    expect(fact(page.locator("#resultado-pago"), "Estado")).to_have_text("Aprobada")
    phones.assert_clean()


def test_declined_card(phones, customer):
    payer = phones.open()
    page = to_checkout(payer, customer)
    pay_at_checkout(page, DECLINING_CARD)

    receipt = result_of(page, "Rechazada")
    expect(receipt).to_contain_text("Su pago no fue aprobado")
    expect(receipt).to_contain_text("No se realizó ningún cobro")
    expect(receipt).not_to_contain_text("¡Pago realizado con éxito!")
    retry = page.get_by_role("link", name="Reintentar")
    expect(retry).to_be_visible()
    payer.shot("rechazado")

    page.goto(NOTICES)
    expect(notice_card(page, NOTICE)).to_contain_text("Estado: No Pagado")
    payer.shot("sigue-no-pagado")
    page.go_back()

    page.get_by_role("link", name="Reintentar").click()
    expect(page).to_have_url(re.compile(r"/interservicios/clientes/avisos/\d+#pagar$"))
    expect(page.get_by_role("heading", name=f"Aviso de cobro {NOTICE}")).to_be_visible()
    expect(page.locator(".bill")).to_contain_text("Estado: No Pagado")
    expect(page.get_by_role("button", name=PAY)).to_be_enabled()
    payer.shot("reintentar")

    # The retry goes through: a new attempt, approved this time.
    page.get_by_role("checkbox", name="Acepto los términos y condiciones").check()
    page.get_by_role("button", name=PAY).click()
    page.get_by_role("button", name=PAY).click()
    pay_at_checkout(page, APPROVING_CARD)
    result_of(page, "Aprobada")
    payer.shot("aprobado-al-reintentar")

    page.goto(PAYMENTS)
    states = page.locator("li.receipt").locator(
        "xpath=.//dt[normalize-space()='Estado']/following-sibling::dd[1]"
    )
    expect(states).to_have_text(["Aprobada", "Rechazada"])
    phones.assert_clean()


def test_terms_required(phones, customer):
    """Paying without accepting the terms: an announced error; nothing is started."""
    phones.allow_status(422, r"/clientes/avisos/\d+/pagar$")
    payer = phones.open()
    page = log_in(payer, customer)
    notice_card(page, NOTICE).click()
    page.get_by_role("button", name=PAY).click()
    expect(page.get_by_role("alert")).to_contain_text("Revise los campos marcados")
    terms = page.get_by_role("checkbox", name="Acepto los términos y condiciones")
    expect(terms).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#terminos-error")).to_have_text(
        "Debe aceptar los términos y condiciones para pagar."
    )
    payer.shot("sin-terminos")
    page.goto(PAYMENTS)
    expect(page.get_by_text("Aún no tiene pagos en línea.")).to_be_visible()
    phones.assert_clean()


def test_logout(phones, customer):
    payer = phones.open()
    page = log_in(payer, customer)
    nav = page.get_by_role("navigation", name="Área de clientes")
    nav.get_by_role("button", name="Salir").click()
    expect(page.get_by_role("heading", name=LOGIN_HEADING)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Su sesión se cerró.")).to_be_visible()
    expect(nav.get_by_role("button", name="Salir")).to_have_count(0)
    payer.shot("sesion-cerrada")

    for protected in (NOTICES, PAYMENTS):
        page.goto(protected)
        expect(page).to_have_url(re.compile(r"/interservicios/clientes/entrar\?next="))
        expect(page.get_by_role("heading", name=LOGIN_HEADING)).to_be_visible()

    # Logging in again from there leads back to the page that was asked for.
    page.get_by_label("Correo electrónico").fill(customer["email"])
    page.get_by_label("Contraseña").fill(customer["password"])
    page.get_by_role("button", name="Ingresar").click()
    expect(page).to_have_url(re.compile(r"/interservicios/clientes/pagos$"))
    phones.assert_clean()


def test_wrong_password(phones, customer):
    phones.allow_status(422, r"/clientes/entrar$")
    payer = phones.open()
    page = payer.page
    page.goto("/interservicios/clientes/entrar")
    page.get_by_label("Correo electrónico").fill(customer["email"])
    page.get_by_label("Contraseña").fill("no-es-la-clave")
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("alert")).to_contain_text("El correo o la contraseña no son correctos")
    expect(page.get_by_label("Correo electrónico")).to_have_value(customer["email"])
    expect(page.get_by_label("Contraseña")).to_have_value("")
    payer.shot("clave-incorrecta")
    page.goto(NOTICES)
    expect(page.get_by_role("heading", name=LOGIN_HEADING)).to_be_visible()
    phones.assert_clean()
