"""Steps shared by the browser tests: reading facts, Interservicios' menu and login."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

AREA = "/interservicios/clientes/"
NOTICES = "/interservicios/clientes/avisos"
PAYMENTS = "/interservicios/clientes/pagos"
LOGIN_HEADING = "Entrar al área de clientes"
APPROVING_CARD = "4242 4242 4242 4242"
DECLINING_CARD = "4111 1111 1111 1111"


def fact(scope: Locator | Page, term: str) -> Locator:
    """The <dd> of the <dt> named `term` in a list of facts."""
    return scope.locator(f"xpath=.//dt[normalize-space()='{term}']/following-sibling::dd[1]")


def menu(page: Page, summary: str, link: str) -> None:
    """Opens the client area's menu `summary` ("Cuenta", "Facturación") and follows `link`."""
    nav = page.get_by_role("navigation", name="Área de clientes")
    nav.locator("summary", has_text=summary).click()
    nav.get_by_role("link", name=link, exact=True).click()


def log_in(phone, customer: dict) -> Page:
    """Seed 001, steps 1-2: /clientes/ → "Cuenta" → "Entrar" → e-mail, password, "Ingresar"."""
    page = phone.page
    page.goto(AREA)
    expect(page.get_by_role("heading", name="Área de clientes")).to_be_visible()
    menu(page, "Cuenta", "Entrar")
    expect(page.get_by_role("heading", name=LOGIN_HEADING)).to_be_visible()
    page.get_by_label("Correo electrónico").fill(customer["email"])
    page.get_by_label("Contraseña").fill(customer["password"])
    page.get_by_role("button", name="Ingresar").click()
    expect(page).to_have_url(re.compile(r"/interservicios/clientes/avisos$"))
    return page


def notice_card(page: Page, bill_number: str) -> Locator:
    """The card of one notice in "Mis avisos de cobro"."""
    return page.locator("#avisos").get_by_role("link", name=re.compile(re.escape(bill_number)))


def pay_at_checkout(page: Page, card: str) -> None:
    """The emulated Wompi Web Checkout: card number, then "Pagar $ …"."""
    expect(page.get_by_role("heading", name=re.compile(r"^Pagar a "))).to_be_visible()
    page.get_by_label("Tarjeta de crédito o débito").check()
    page.get_by_label("Número de la tarjeta").fill(card)
    page.get_by_role("button", name=re.compile(r"^Pagar \$")).click()


def expect_print_button(page: Page, javascript: bool) -> None:
    """ "Imprimir" calls window.print(): shown with JavaScript, absent without (no dead button)."""
    button = page.get_by_role("button", name="Imprimir")
    if javascript:
        expect(button).to_be_visible()
    else:
        expect(button).to_have_count(0)
