"""Gasnova (the demo's PlacetoPay company), end to end on a phone, JavaScript on and off:
lookup → bill → PSE step → PlacetoPay's emulated session page (bank chosen there) → "Aprobar"
→ back to the portal, whose receipt comes from PlacetoPay's own answer (issue 15)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from gaspay.demo import load_demo
from gaspay.extensions import db
from gaspay.sandbox import placetopay as p2p_sandbox
from tests.browser.test_accessibility import Audit, bank_step, result

pytestmark = pytest.mark.browser

CLIENT = "0031001"


@pytest.fixture
def gasnova(live_server):
    """Gasnova's demo bills and an empty PlacetoPay emulator."""
    p2p_sandbox.reset()
    with live_server.app.app_context():
        load_demo(str(live_server.demo_dir), {"gasnova"})
        db.session.remove()


def test_gasnova_pays_a_bill_through_placetopay(phones, gasnova):
    audit = Audit(phones)
    payer = phones.open()
    page = payer.page
    page.goto("/gasnova/factura")
    bank_step(page, CLIENT)
    audit(payer, "paso-pse")
    page.get_by_role("radio", name="Persona", exact=True).check()
    bank = page.get_by_label("A continuación seleccione su banco")
    bank.select_option(label="Elegir el banco en la página segura de PlacetoPay")
    page.get_by_label("Número de documento").fill("1099888777")
    page.get_by_role("checkbox", name=re.compile("términos y condiciones")).check()
    page.get_by_role("checkbox", name=re.compile("tratamiento de mis datos")).check()
    page.get_by_role("button", name="Clic para continuar con el pago").click()
    # PlacetoPay's own page (emulated): PSE, a bank, then approve.
    page.wait_for_url(re.compile(r"/sandbox/placetopay/session/"))
    page.get_by_label("PSE").check()
    page.locator("#bank").select_option(index=1)
    page.get_by_role("button", name="Aprobar").click()
    page.get_by_role("link", name="Volver al comercio").click()
    result(page, "Aprobada")
    audit(payer, "aprobada")
    receipt = page.locator("#resultado-pago")
    expect(receipt).to_contain_text("$ 23.400")
    expect(receipt).to_contain_text("CUS")
