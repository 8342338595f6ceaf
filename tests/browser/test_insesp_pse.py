"""Insesp's guide, end to end on a phone: PSE button → bill → bank step → PSE → bank → result.

Every test runs with JavaScript on (app.js: focus, polling) and off (plain forms), against the
real app and the local gateway emulator on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select, update

from gaspay.extensions import db
from gaspay.payments.models import AttemptTransition, GatewayEvent, PaymentAttempt
from gaspay.sandbox import store, wait_for_events
from gaspay.timeutil import utcnow
from tests.browser.pages import expect_print_button

pytestmark = pytest.mark.browser

CLIENT = "0021053"
TOTAL = "$ 18.000"
DOCUMENT = "1099888777"
PSE_EMAIL = "usuario.demo@correo.test"
BANK = "Bancolombia"  # a production code: PSE sends the payer to the emulated bank page
PENDING_RULE = "presenta un proceso de pago cuya transacción se encuentra PENDIENTE"
PAY_BUTTON = re.compile(r"^Pagar")
POLL_TIMEOUT_MS = 10_000


def fact(scope: Locator | Page, term: str) -> Locator:
    """The <dd> of the <dt> named `term` in a list of facts."""
    return scope.locator(f"xpath=.//dt[normalize-space()='{term}']/following-sibling::dd[1]")


def insesp(live_server):
    return live_server.app.extensions["gaspay.tenants"]["insesp"]


def look_up(phone, number: str = CLIENT) -> Locator:
    """ "Número de Factura" → "Continuar"; the result area."""
    page = phone.page
    page.get_by_label("Número de Factura").fill(number)
    page.get_by_role("button", name="Continuar").click()
    result = page.locator("#resultado .result")
    expect(result).to_be_visible()
    return result


def look_up_again(phones, who: str) -> tuple[object, Locator]:
    """Another person (fresh phone, no cookies) looks the bill up from the lookup page."""
    other = phones.open(who)
    other.page.goto("/insesp/factura")
    expect(other.page.get_by_role("heading", name="Pago de Factura en Línea")).to_be_visible()
    return other, look_up(other)


def expect_paid(phone, result: Locator) -> None:
    expect(result).to_contain_text(f"Las facturas del número {CLIENT} ya están pagadas")
    expect(result).to_contain_text("Esta factura ya fue pagada")
    expect(result.get_by_role("button", name=PAY_BUTTON)).to_have_count(0)
    expect(phone.page.get_by_role("button", name=PAY_BUTTON)).to_have_count(0)


def to_the_bank(phones, live_server):
    """The payer's way from the company page to the emulated bank page."""
    payer = phones.open()
    page = payer.page
    page.goto("/insesp/")
    expect(page.get_by_role("heading", name="Pago de Factura en Línea")).to_be_visible()
    if phones.javascript:
        assert page.evaluate("typeof showPrintButtons") == "function", "app.js did not run"
        assert page.evaluate("typeof htmx") == "undefined", "a payer page loaded htmx"
    payer.shot("inicio")

    page.get_by_role("link", name="PSE").click()
    expect(page).to_have_url(re.compile(r"/insesp/factura$"))
    expect(page.get_by_text(insesp(live_server).legal_name, exact=True)).to_be_visible()
    payer.shot("numero-de-factura")

    result = look_up(payer)
    bill = result.get_by_role("article", name=re.compile("Factura del Gas"))
    expect(fact(bill, "Total a pagar")).to_have_text(TOTAL)
    expect(fact(bill, "Total IVA")).to_have_text("$ 0")
    expect(fact(bill, "Concepto")).to_have_text("Factura del Gas")
    expect(fact(bill, "Nombre")).to_have_text("Usuario")
    expect(fact(bill, "Apellido")).to_have_text("Demo")
    expect(fact(bill, "Vencimiento")).to_have_text(re.compile(r"^\d{2}/\d{2}/\d{4}$"))
    payer.shot("factura")

    bill.get_by_role("button", name=f"Pagar {TOTAL}").click()
    expect(
        page.get_by_role("heading", name="Pago PSE - débito desde su cuenta corriente o de ahorros")
    ).to_be_visible()
    expect(fact(page, "Total a pagar")).to_have_text(TOTAL)
    expect(fact(page, "Cliente")).to_have_text(CLIENT)
    page.get_by_role("radio", name="Persona", exact=True).check()
    page.get_by_label("A continuación seleccione su banco").select_option(label=BANK)
    page.get_by_label("Número de documento").fill(DOCUMENT)
    page.get_by_role("checkbox", name=re.compile("términos y condiciones")).check()
    page.get_by_role("checkbox", name=re.compile("tratamiento de mis datos")).check()
    payer.shot("paso-pse")

    page.get_by_role("button", name="Clic para continuar con el pago").click()
    expect(page.get_by_role("heading", name="PSE - Pagos Seguros en Línea")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/sandbox/pse/"))
    expect(fact(page, "Valor")).to_have_text(TOTAL)
    page.get_by_label("Soy un usuario registrado").check()
    page.get_by_label("E-mail registrado en PSE").fill(PSE_EMAIL)
    payer.shot("pse")

    page.get_by_role("button", name="Ir al Banco").click()
    expect(page.get_by_role("heading", name=BANK)).to_be_visible()
    payer.shot("banco")
    return payer


def receipt_of(payer, state: str) -> Locator:
    page = payer.page
    expect(page).to_have_url(re.compile(r"/insesp/pagos/[^/?]+"))
    expect(page.get_by_role("heading", name="Resultado del pago")).to_be_visible()
    receipt = page.locator("#resultado-pago")
    expect(fact(receipt, "Estado")).to_have_text(state)
    expect(receipt.locator(".status")).to_have_text(f"Transacción {state}")
    expect(fact(receipt, "Valor")).to_have_text(TOTAL)
    return receipt


def test_approved(phones, live_server):
    payer = to_the_bank(phones, live_server)
    payer.page.get_by_role("button", name="Aprobar").click()

    receipt = receipt_of(payer, "Aprobada")
    tenant = insesp(live_server)
    expect(receipt).to_contain_text("¡Pago realizado con éxito!")
    expect(fact(receipt, "CUS")).to_have_text(re.compile(r"^\d{6,}$"))
    expect(fact(receipt, "NIT")).to_have_text(tenant.nit)
    expect(fact(receipt, "Banco")).to_have_text(BANK)
    expect(receipt).to_contain_text(tenant.support_phone)
    expect_print_button(payer.page, phones.javascript)
    payer.shot("aprobada")

    second, result = look_up_again(phones, "otro-pagador")
    expect_paid(second, result)
    second.shot("ya-pagada")
    phones.assert_clean()


def test_declined(phones, live_server):
    payer = to_the_bank(phones, live_server)
    payer.page.get_by_role("button", name="Rechazar").click()

    receipt = receipt_of(payer, "Rechazada")
    expect(receipt).to_contain_text("No se realizó ningún cobro")
    expect(receipt).to_contain_text("La entidad financiera rechazó la transacción")
    retry = payer.page.get_by_role("link", name="Reintentar")
    expect(retry).to_be_visible()
    payer.shot("rechazada")

    retry.click()
    page = payer.page
    expect(
        page.get_by_role("heading", name="Pago PSE - débito desde su cuenta corriente o de ahorros")
    ).to_be_visible()
    expect(fact(page, "Cliente")).to_have_text(CLIENT)
    expect(fact(page, "Total a pagar")).to_have_text(TOTAL)
    expect(page.get_by_role("button", name="Clic para continuar con el pago")).to_be_enabled()
    payer.shot("reintentar")
    phones.assert_clean()


def _attempt_rows(app):
    with app.app_context():
        attempts = db.session.scalars(select(PaymentAttempt)).all()
        transitions = db.session.execute(
            select(AttemptTransition.to_status, AttemptTransition.source).order_by(
                AttemptTransition.id
            )
        ).all()
        events = db.session.execute(
            select(GatewayEvent.gateway_status, GatewayEvent.outcome).order_by(GatewayEvent.id)
        ).all()
        rows = (
            [(a.reference, a.status) for a in attempts],
            [tuple(t) for t in transitions],
            [tuple(e) for e in events],
        )
        db.session.remove()
    return rows


def _approve_in_sandbox(phones):
    """The tester approves the pending transaction on the emulator's list (/sandbox/)."""
    operator = phones.open("sandbox")
    page = operator.page
    page.goto("/sandbox/")
    expect(page.get_by_role("heading", name="Transacciones de prueba")).to_be_visible()
    expect(fact(page, "Estado")).to_have_text("Pendiente (PENDING)")
    operator.shot("pendiente")
    page.get_by_role("button", name="Aprobar").click()
    expect(fact(page, "Estado")).to_have_text("Aprobada (APPROVED)")
    operator.shot("aprobada")


def test_pending(phones, live_server):
    app = live_server.app
    payer = to_the_bank(phones, live_server)
    payer.page.get_by_role("button", name="Dejar pendiente").click()

    receipt = receipt_of(payer, "Pendiente")
    expect(fact(receipt, "CUS")).to_have_text(re.compile(r"^\d{6,}$"))
    expect(receipt).to_contain_text("PENDIENTE de confirmación")
    expect(payer.page.get_by_role("link", name="Actualizar estado")).to_be_visible()
    expect(payer.page.get_by_role("button", name="Imprimir")).to_have_count(0)
    payer.shot("pendiente")

    # Someone else looks the bill up meanwhile: the standard PENDIENTE message, no pay button.
    other, result = look_up_again(phones, "consulta")
    expect(result).to_contain_text(PENDING_RULE)
    expect(result.get_by_role("button", name=PAY_BUTTON)).to_have_count(0)
    other.shot("pendiente")

    if phones.javascript:
        # Event path: the sandbox sends the signed event; the open result page polls (app.js)
        # and turns to "Aprobada" by itself, without a reload.
        payer.page.evaluate("window.__sinRecargar = true")
        _approve_in_sandbox(phones)
        expect(fact(receipt, "Estado")).to_have_text("Aprobada", timeout=POLL_TIMEOUT_MS)
        expect(receipt.locator(".status")).to_have_text("Transacción Aprobada")
        assert payer.page.evaluate("window.__sinRecargar") is True, "the page was reloaded"
        expect_print_button(payer.page, phones.javascript)
        payer.shot("aprobada-sola")
        assert wait_for_events(10)
        _, _, events = _attempt_rows(app)
        # "no_change" only if the page's own status poll beat the event by a few ms.
        assert events and events[-1][0] == "APPROVED", events
        assert events[-1][1] in ("applied", "no_change"), events
    else:
        # Job path: the gateway approves but its event never arrives; the reconcile job
        # (cron) finds out once the attempt is due.
        app.config["SANDBOX_SEND_EVENTS"] = False
        _approve_in_sandbox(phones)
        assert [e["body"]["data"]["transaction"]["status"] for e in store.events()] == ["APPROVED"]
        other.page.goto("/insesp/factura")  # a new lookup: the portal has not heard yet
        expect(other.page.get_by_role("heading", name="Pago de Factura en Línea")).to_be_visible()
        result = look_up(other)
        expect(result).to_contain_text(PENDING_RULE)
        assert _attempt_rows(app)[0][0][1] == "pending"

        with app.app_context():
            db.session.execute(
                update(PaymentAttempt).values(next_check_at=utcnow() - dt.timedelta(minutes=1))
            )
            db.session.commit()
            db.session.remove()
        output = live_server.cli("payments", "reconcile")
        assert "due=1 checked=1 transitions=1" in output, output
        attempts, transitions, _ = _attempt_rows(app)
        assert attempts[0][1] == "approved"
        assert transitions[-1] == ("approved", "job"), transitions

        payer.page.reload()
        receipt = receipt_of(payer, "Aprobada")
        expect_print_button(payer.page, phones.javascript)
        payer.shot("aprobada-job")

    third, result = look_up_again(phones, "consulta-final")
    expect_paid(third, result)
    third.shot("ya-pagada")
    phones.assert_clean()
