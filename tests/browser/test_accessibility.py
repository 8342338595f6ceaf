"""Accessibility of every payer page and state, on a phone, with JavaScript on and off.

On each page: axe-core (bundled by axe-playwright-python, injected through Playwright's evaluate,
so the app's CSP stays as it is) with the WCAG 2.0/2.1/2.2 A and AA rules, plus what axe does not
measure: every control has a label, buttons and stand-alone links are at least 44x44 px, field
errors are tied to their field (aria-describedby), an aria-label contains the visible label, and
error messages are announced (role=alert, or inside an aria-live region). Separately: the
keyboard focus is visible, after the payer's action the focus moves into the new content, and a
self-refreshing result leaves it where it is (JavaScript on).

The emulated Wompi/PSE/bank pages (/sandbox/) are not audited: they stand in for third parties.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from gaspay.accounts.services import create_reset, find_customer
from tests.browser.pages import (
    APPROVING_CARD,
    DECLINING_CARD,
    LOGIN_HEADING,
    NOTICES,
    PAYMENTS,
    fact,
    log_in,
    notice_card,
    pay_at_checkout,
)

pytestmark = pytest.mark.browser

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
MIN_TARGET_PX = 44
MIN_OUTLINE_PX = 2
PENDING_RULE = "presenta un proceso de pago cuya transacción se encuentra PENDIENTE"

# What axe does not check, measured in the page. Returns a list of problems (strings).
PAGE_CHECKS = r"""
(minTarget) => {
  const problems = [];
  const visible = (el) => el.checkVisibility() && el.getBoundingClientRect().width > 0;
  const describe = (el) => el.outerHTML.replace(/\s+/g, " ").slice(0, 110);
  // 1. Every control has a non-empty label.
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const labelled = [...(el.labels || [])].some((l) => l.textContent.trim())
      || (el.getAttribute("aria-label") || "").trim() || el.getAttribute("aria-labelledby");
    if (!labelled) problems.push(`control without a label: ${describe(el)}`);
  }
  // 2. Tap targets in the header menu and the main content: buttons, stand-alone links (a link
  //    inside a sentence is exempt, as in WCAG 2.5.5), menu toggles; a check box or radio button
  //    counts with its label, which is clickable too.
  const inline = (el) => [...el.parentNode.childNodes].some((n) => n !== el && (
    (n.nodeType === Node.TEXT_NODE && n.textContent.trim())
    || (n.nodeType === Node.ELEMENT_NODE && getComputedStyle(n).display === "inline")));
  const targets = document.querySelectorAll(
    "header nav a, header nav button, header nav summary, header a.brand, "
    + "main a, main button, main summary, main input[type=checkbox], main input[type=radio]");
  for (const el of targets) {
    if (!visible(el)) continue;
    if (el.tagName === "A" && inline(el)) continue;
    const box = (el.tagName === "INPUT" && el.labels && el.labels[0]) || el;
    const r = box.getBoundingClientRect();
    if (r.width < minTarget || r.height < minTarget) {
      const size = `${Math.round(r.width)}x${Math.round(r.height)}`;
      problems.push(`tap target ${size} px: ${describe(el)}`);
    }
  }
  // 3. A field's error is tied to its control: aria-invalid and aria-describedby naming it.
  for (const error of document.querySelectorAll(".field .error, fieldset .error")) {
    if (!visible(error)) continue;
    const field = error.closest(".field, fieldset");
    const ok = error.id && [...field.querySelectorAll("input, select, textarea")].some(
      (c) => c.getAttribute("aria-invalid") === "true"
        && (c.getAttribute("aria-describedby") || "").split(/\s+/).includes(error.id));
    if (!ok) problems.push(`field error not tied to its control: ${describe(error)}`);
  }
  // 4. Label in name (WCAG 2.5.3): an aria-label contains the words the control shows.
  const words = (text) => text.replace(/\s+/g, " ").trim().toLowerCase();
  for (const el of document.querySelectorAll("a[aria-label], button[aria-label]")) {
    const shown = words(el.innerText);
    if (visible(el) && shown && !words(el.getAttribute("aria-label")).includes(shown)) {
      problems.push(`accessible name does not contain the visible label: ${describe(el)}`);
    }
  }
  return problems;
}
"""
# Is this message (text) announced: inside role=alert/status or an aria-live region?
ANNOUNCED = """
(text) => [...document.querySelectorAll("[role=alert], [role=status], [aria-live]")]
  .some((region) => region.checkVisibility() && region.textContent.includes(text))
"""
# With JavaScript off, Chromium runs Playwright's evaluate but never fires timers, and axe waits
# on them: in that mode the page gets timers that run as microtasks (it has no scripts of its own).
TIMERS_AS_MICROTASKS = """
() => {
  const soon = (fn, ...args) => { Promise.resolve().then(() => fn(...args)); return 0; };
  window.setTimeout = (fn, ms, ...args) => soon(fn, ...args);
  window.clearTimeout = () => {};
  window.requestAnimationFrame = (fn) => soon(fn, performance.now());
  window.cancelAnimationFrame = () => {};
}
"""
FOCUS_RULE = """
() => [...document.styleSheets].flatMap((sheet) => [...sheet.cssRules])
  .filter((rule) => rule.selectorText && rule.selectorText.includes(":focus-visible"))
  .map((rule) => [rule.selectorText, rule.style.outlineStyle, rule.style.outlineWidth])
"""
FOCUSED = """
() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName, text: el.textContent.trim().slice(0, 40), id: el.id,
    outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth),
    focusVisible: el.matches(":focus-visible"),
    inView: el.getBoundingClientRect().left >= 0,
  };
}
"""


class Audit:
    """Runs axe and the page checks on each state; collects every problem, fails at the end."""

    def __init__(self, phones):
        self.phones = phones
        self.axe = Axe()
        self.problems: list[str] = []
        self.pages: list[str] = []

    def __call__(self, phone, state: str, *, announced: str | None = None) -> None:
        page = phone.page
        page.wait_for_load_state()
        phone.shot(state)
        where = f"{state} ({page.url.removeprefix(self.phones.base_url)})"
        self.pages.append(where)
        if not self.phones.javascript:
            page.evaluate(TIMERS_AS_MICROTASKS)
        results = self.axe.run(page, options=AXE_OPTIONS).response
        for violation in results["violations"]:
            nodes = "; ".join(
                f"{' '.join(n['target'])}: {n['failureSummary'].splitlines()[-1].strip()}"
                for n in violation["nodes"][:4]
            )
            self.problems.append(
                f"{where}: axe {violation['id']} ({violation['impact']}): "
                f"{violation['help']} [{nodes}]"
            )
        for problem in page.evaluate(PAGE_CHECKS, MIN_TARGET_PX):
            self.problems.append(f"{where}: {problem}")
        if announced is not None and not page.evaluate(ANNOUNCED, announced):
            self.problems.append(f"{where}: the message «{announced}» is not announced")

    def assert_clean(self) -> None:
        assert self.pages
        assert not self.problems, (
            f"{len(self.problems)} accessibility problems on {len(self.pages)} pages:\n"
            + "\n".join(self.problems)
        )


def test_axe_finds_violations(phones):
    """The audit itself: a broken page must fail it (axe loaded, rules on, in both modes)."""
    audit = Audit(phones)
    phone = phones.open()
    phone.page.set_content(
        '<!doctype html><html><head><meta name="viewport" content="width=device-width">'
        "<title>Rota</title></head><body><main>"
        '<img src="data:,"><button></button><a href="#x" aria-label="Otro">Ir</a>'
        '<input id="n"><div class="field"><input><p class="error">Falta</p></div>'
        "</main></body></html>"
    )
    audit(phone, "pagina-rota")
    found = "\n".join(audit.problems)
    for expected in (
        "axe image-alt",
        "axe button-name",
        "axe html-has-lang",
        "control without a label",
        "tap target",
        "field error not tied",
        "does not contain the visible label",
    ):
        assert expected in found, f"{expected!r} not reported:\n{found}"


def lookup(page: Page, number: str) -> None:
    page.get_by_label("Número de Factura").fill(number)
    page.get_by_role("button", name="Continuar").click()
    expect(page.locator("#resultado .result")).to_be_visible()


def bank_step(page: Page, number: str) -> None:
    """From the lookup page: the bill of `number` → "Pagar" → the PSE bank step."""
    lookup(page, number)
    page.locator("#resultado").get_by_role("button", name=re.compile(r"^Pagar")).first.click()
    expect(page.get_by_role("heading", name=re.compile(r"^Pago PSE"))).to_be_visible()


def pay_by_pse(page: Page, bank: str) -> None:
    page.get_by_role("radio", name="Persona", exact=True).check()
    page.get_by_label("A continuación seleccione su banco").select_option(label=bank)
    page.get_by_label("Número de documento").fill("1099888777")
    page.get_by_role("checkbox", name=re.compile("términos y condiciones")).check()
    page.get_by_role("checkbox", name=re.compile("tratamiento de mis datos")).check()
    page.get_by_role("button", name="Clic para continuar con el pago").click()


def through_pse(page: Page) -> None:
    """PSE's own page (emulated): registered e-mail → "Ir al Banco"."""
    expect(page.get_by_role("heading", name="PSE - Pagos Seguros en Línea")).to_be_visible()
    page.get_by_label("Soy un usuario registrado").check()
    page.get_by_label("E-mail registrado en PSE").fill("usuario.demo@correo.test")
    page.get_by_role("button", name="Ir al Banco").click()


def result(page: Page, state: str) -> None:
    expect(page.get_by_role("heading", name="Resultado del pago")).to_be_visible()
    expect(fact(page.locator("#resultado-pago"), "Estado")).to_have_text(state)


def test_insesp_pages(phones):
    phones.allow_status(422, r"^/insesp/(factura|pse/pagar)$")
    audit = Audit(phones)
    payer = phones.open()
    page = payer.page

    page.goto("/insesp/")
    audit(payer, "inicio")
    page.get_by_role("link", name="PSE").click()
    expect(page.get_by_label("Número de Factura")).to_be_visible()
    audit(payer, "consulta")

    page.get_by_role("button", name="Continuar").click()
    error = "Escriba el número de cliente o la referencia de pago."
    expect(page.get_by_text(error).first).to_be_visible()
    audit(payer, "consulta-sin-numero", announced=error)

    lookup(page, "999999")
    expect(page.get_by_role("alert")).to_contain_text("No encontramos facturas")
    audit(payer, "numero-desconocido", announced="No encontramos facturas")

    lookup(page, "21053")
    expect(page.get_by_role("article", name=re.compile("Factura del Gas"))).to_be_visible()
    audit(payer, "factura")

    page.locator("#resultado").get_by_role("button", name=re.compile(r"^Pagar")).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Pago PSE"))).to_be_visible()
    audit(payer, "paso-banco")

    page.get_by_label("Número de documento").fill("")
    page.get_by_role("button", name="Clic para continuar con el pago").click()
    expect(page.get_by_role("alert")).to_contain_text("Revise los campos marcados")
    audit(payer, "paso-banco-errores", announced="Revise los campos marcados")

    pay_by_pse(page, "Banco que rechaza (sandbox)")
    through_pse(page)
    result(page, "Rechazada")
    audit(payer, "resultado-rechazado", announced="Su pago no fue aprobado")

    page.get_by_role("link", name="Reintentar").click()
    pay_by_pse(page, "Bancolombia")
    through_pse(page)
    page.get_by_role("button", name="Dejar pendiente").click()
    result(page, "Pendiente")
    audit(payer, "resultado-pendiente", announced="PENDIENTE de confirmación")

    other = phones.open("consulta")
    other.page.goto("/insesp/factura")
    lookup(other.page, "0021053")
    expect(other.page.locator("#resultado")).to_contain_text(PENDING_RULE)
    audit(other, "mensaje-pendiente", announced=PENDING_RULE)

    other.page.goto("/insesp/factura")
    bank_step(other.page, "0021054")
    pay_by_pse(other.page, "Banco que aprueba (sandbox)")
    through_pse(other.page)
    result(other.page, "Aprobada")
    audit(other, "resultado-aprobado", announced="¡Pago realizado con éxito!")
    audit.assert_clean()


def test_interservicios_pages(phones, customer, live_server):
    phones.allow_status(422, r"^/interservicios/clientes/(entrar|avisos/\d+/pagar)$")
    audit = Audit(phones)
    payer = phones.open()
    page = payer.page

    page.goto("/interservicios/")
    audit(payer, "inicio")
    page.goto("/interservicios/clientes/")
    audit(payer, "area-de-clientes")
    page.goto("/interservicios/clientes/entrar")
    audit(payer, "entrar")

    page.get_by_label("Correo electrónico").fill(customer["email"])
    page.get_by_label("Contraseña").fill("no-es-la-clave")
    page.get_by_role("button", name="Ingresar").click()
    audit(payer, "entrar-error", announced="El correo o la contraseña no son correctos")

    page.goto("/interservicios/clientes/recuperar")
    audit(payer, "recuperar")
    page.get_by_label("Correo electrónico").fill(customer["email"])
    page.get_by_role("button", name="Enviar enlace").click()
    audit(payer, "recuperar-enviado", announced="le enviamos un enlace")
    with live_server.app.app_context():
        token = create_reset(find_customer(customer["tenant"], customer["email"]))
    page.goto(f"/interservicios/clientes/restablecer/{token}")
    audit(payer, "nueva-clave")
    page.goto("/interservicios/clientes/terminos")
    audit(payer, "terminos")

    log_in(payer, customer)
    audit(payer, "avisos")
    page.get_by_role("link", name="Solo «No Pagado»").click()
    expect(page.locator("#avisos")).not_to_contain_text("Estado: Pagado")
    audit(payer, "avisos-no-pagados")

    notice_card(page, "AV-100245-02").click()
    audit(payer, "aviso")
    page.get_by_role("button", name="Pagar con Wompi").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit(payer, "aviso-sin-terminos", announced="Revise los campos marcados")

    page.get_by_role("checkbox", name="Acepto los términos y condiciones").check()
    page.get_by_role("button", name="Pagar con Wompi").click()
    expect(page.get_by_role("heading", name="Continúe su pago en Wompi")).to_be_visible()
    audit(payer, "hacia-wompi")
    page.get_by_role("button", name="Pagar con Wompi").click()
    pay_at_checkout(page, DECLINING_CARD)
    result(page, "Rechazada")
    audit(payer, "resultado-rechazado", announced="Su pago no fue aprobado")

    page.get_by_role("link", name="Reintentar").click()
    page.get_by_role("checkbox", name="Acepto los términos y condiciones").check()
    page.get_by_role("button", name="Pagar con Wompi").click()
    page.get_by_role("button", name="Pagar con Wompi").click()
    pay_at_checkout(page, APPROVING_CARD)
    result(page, "Aprobada")
    audit(payer, "resultado-aprobado", announced="¡Pago realizado con éxito!")

    page.goto(NOTICES)
    notice_card(page, "AV-100245-02").click()
    audit(payer, "aviso-pagado")
    page.goto(PAYMENTS)
    audit(payer, "mis-pagos")

    page.get_by_role("button", name="Salir").click()
    expect(page.get_by_role("heading", name=LOGIN_HEADING)).to_be_visible()
    audit(payer, "sesion-cerrada", announced="Su sesión se cerró.")
    audit.assert_clean()


def tab_to(page: Page, selector: str, limit: int = 25) -> dict:
    """Presses Tab until an element matching `selector` has the focus; what is focused."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return page.evaluate(FOCUSED)
    raise AssertionError(f"Tab never reached {selector}")


def test_focus_is_visible(phones):
    payer = phones.open()
    page = payer.page
    page.goto("/insesp/factura")

    rules = page.evaluate(FOCUS_RULE)
    assert any(style not in ("", "none") and width for _, style, width in rules), (
        f"app.css has no visible :focus-visible outline: {rules}"
    )

    skip = tab_to(page, "a.skip")
    assert skip["text"] == "Ir al contenido" and skip["inView"], skip
    assert skip["focusVisible"] and skip["outlineStyle"] != "none", skip
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "contenido"

    for selector in ("#numero", "main button[type=submit]"):
        focused = tab_to(page, selector)
        assert focused["focusVisible"], focused
        assert focused["outlineStyle"] != "none", focused
        assert focused["outlineWidth"] >= MIN_OUTLINE_PX, focused
    payer.shot("foco-visible")


@pytest.mark.parametrize("js", ["js"])
def test_focus_follows_the_payers_action(phones, customer):
    """After a lookup, a form with errors and a filter, the answering page puts the focus on its
    new content (app.js: data-focus), as the htmx swaps of the staff area do."""
    phones.allow_status(422, r"^/insesp/(factura|pse/pagar)$")
    payer = phones.open()
    page = payer.page
    inside = "(s) => !!document.activeElement.closest(s)"

    page.goto("/insesp/factura")
    page.get_by_label("Número de Factura").fill("21053")
    page.get_by_role("button", name="Continuar").click()
    expect(page.locator("#resultado article")).to_be_visible()
    page.wait_for_function(inside, arg="#resultado")
    payer.shot("foco-en-resultado")

    page.locator("#resultado").get_by_role("button", name=re.compile(r"^Pagar")).click()
    page.get_by_label("Número de documento").fill("")
    page.get_by_role("button", name="Clic para continuar con el pago").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.wait_for_function(inside, arg="#paso-pse [role=alert]")
    payer.shot("foco-en-errores")

    log_in(payer, customer)
    page.get_by_role("link", name="Solo «No Pagado»").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"\?estado=no-pagado$"))
    expect(page.locator("#avisos")).not_to_contain_text("Estado: Pagado")
    page.wait_for_function(inside, arg="#avisos")
    payer.shot("foco-en-avisos")
    phones.assert_clean()


@pytest.mark.parametrize("js", ["js"])
def test_polling_keeps_focus(phones, live_server):
    """A pending result refreshes itself (app.js, every 3 s); the keyboard focus stays put."""
    payer = phones.open()
    page = payer.page
    page.goto("/insesp/factura")
    bank_step(page, "21053")
    pay_by_pse(page, "Bancolombia")
    through_pse(page)
    page.get_by_role("button", name="Dejar pendiente").click()
    result(page, "Pendiente")

    support = page.locator("footer a[href^='tel:']")
    support.focus()
    with page.expect_response(re.compile(r"/insesp/pagos/[^/?]+$"), timeout=5_000):
        pass
    page.wait_for_timeout(200)  # the swap settles after the response
    assert page.evaluate("document.activeElement.getAttribute('href')").startswith("tel:")
    phones.assert_clean()
