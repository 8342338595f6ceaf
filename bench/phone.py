"""The payer's pages on a slow 3G phone in Chromium -> bench/out/phone.json (bench/README.md)."""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import common
from playwright.sync_api import sync_playwright
from report import STEPS

ROOT, BIN = common.ROOT, Path(sys.executable).parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]
ARGS += ["--disable-component-update", "--no-first-run", "--disable-quic"]
ARGS += ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
UA = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
PHONE = dict(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True)
PHONE.update(has_touch=True, user_agent=UA, locale="es-CO", timezone_id="America/Bogota")
NET = {"offline": False, "latency": 400, "downloadThroughput": 50_000, "uploadThroughput": 50_000}
NETWORK = {"down_kbps": 400, "up_kbps": 400, "rtt_ms": 400}  # NET, as reported
RUNS, CLIENT, BANK = 5, "0021053", "A continuación seleccione su banco"
TAP = "addEventListener('click', () => sessionStorage.tap = Date.now(), true)"  # across pages
RENDERED = "s => document.querySelector(s)?.getBoundingClientRect().height > 0"
RENDERED += " && Date.now() - sessionStorage.tap"
LOADED = "performance.getEntriesByType('navigation')[0].loadEventEnd"


@contextmanager
def portal(tmp: Path):
    """The demo portal on SQLite under gunicorn (1 worker: the sandbox lives in memory); its URL."""
    env = common.CLEAN_ENV | {"GASPAY_DATABASE_URL": f"sqlite:///{tmp / 'phone.sqlite3'}"}
    env |= {"GASPAY_INSTANCE_PATH": str(tmp), "GASPAY_TENANTS_DIR": str(ROOT / "instance/tenants")}
    for command in (["db", "upgrade"], ["demo", "load"]):
        flask = [BIN / "flask", "--app", "gaspay", *command]
        done = subprocess.run(flask, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"flask {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    flags = ["--workers", "1", "--threads", "8", "-k", "gthread", "--log-level", "warning"]
    proc, url = common.gunicorn(env, tmp / "gunicorn.log", "/insesp/factura", *flags, "wsgi:app")
    try:  # PORT (the sandbox's address) is set once gunicorn's port is known: after the demo
        yield url
    finally:
        common.stop(proc)


class Phone:
    """A new browser context (empty cache), its page and the requests its CDP session saw."""

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(**PHONE, base_url=url)
        self.context.add_init_script(TAP)
        self.page, self.reqs = self.context.new_page(), {}
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("Network.enable")
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.loadingFinished", self._finished)

    def _sent(self, e: dict) -> None:  # a redirect's response comes with the next request
        if e["request"]["url"].startswith("http"):
            redirect = int(e.get("redirectResponse", {}).get("encodedDataLength", 0))
            self.reqs[e["requestId"]] = self.reqs.get(e["requestId"], 0) + redirect

    def _finished(self, e: dict) -> None:
        if e["requestId"] in self.reqs:
            self.reqs[e["requestId"]] += int(e["encodedDataLength"])

    def rendered(self, selector: str) -> float:  # from the last click to the frame laying it out
        found = self.page.wait_for_function(RENDERED, arg=selector, polling="raf")
        return round(found.json_value() / 1000, 3)


def flow_run(browser, url: str) -> list[float]:
    """Seconds to the first page's load, then from each click to the frame laying out its answer."""
    page = (phone := Phone(browser, url)).page
    phone.cdp.send("Network.emulateNetworkConditions", NET)
    page.goto("/insesp/factura", wait_until="load")
    load = round(page.evaluate(LOADED) / 1000, 3)
    page.get_by_label("Número de Factura").fill(CLIENT)
    page.get_by_role("button", name="Continuar").click()
    bill = phone.rendered("#resultado article.bill")
    page.get_by_role("button", name="Pagar $ 18.000").click()
    page.wait_for_url(re.compile(r"/pse/pagar"), wait_until="commit")
    pse = phone.rendered("select[name=banco]")
    page.wait_for_load_state("load")
    phone.context.close()
    seconds = [load, bill, pse]
    common.log("  " + ", ".join(f"{n} {s:.2f} s" for n, s in zip(STEPS, seconds, strict=True)))
    return seconds


def page_weights(browser, url: str) -> list[dict]:
    pages = []

    def weigh(name: str, action) -> None:
        page.wait_for_load_state("networkidle")
        phone.reqs = {}  # from here: this navigation's requests and their bytes (headers too)
        phone.cdp.send("Network.clearBrowserCache")
        with page.expect_navigation(wait_until="load"):
            action()
        page.wait_for_load_state("networkidle")
        path = re.sub(r"/pagos/[^/?]+", "/pagos/<ref>", page.url.split("/", 3)[3].split("?")[0])
        count, size = len(phone.reqs), sum(phone.reqs.values())
        pages.append({"page": name, "path": f"/{path}", "bytes": size, "requests": count})
        common.log(f"  {name} /{path}: {count} requests, {size:,} B")

    phone = Phone(browser, url)
    page, role, label = phone.page, phone.page.get_by_role, phone.page.get_by_label
    weigh("Insesp: inicio", lambda: page.goto("/insesp/"))
    weigh("Insesp: consulta", lambda: page.goto("/insesp/factura"))
    label("Número de Factura").fill(CLIENT)  # the bill as a full page: a plain POST, no htmx
    weigh("Insesp: factura", lambda: page.locator("form.stack").first.evaluate("f => f.submit()"))
    weigh("Insesp: paso PSE", lambda: role("button", name="Pagar $ 18.000").click())
    role("radio", name="Persona", exact=True).check()
    label(BANK).select_option(label="Banco que aprueba (sandbox)")
    label("Número de documento").fill("1099888777")
    role("checkbox", name=re.compile("términos y condiciones")).check()
    role("checkbox", name=re.compile("tratamiento de mis datos")).check()
    role("button", name="Clic para continuar con el pago").click()
    label("Soy un usuario registrado").check()
    label("E-mail registrado en PSE").fill("usuario.demo@correo.test")
    role("button", name="Ir al Banco").click()
    role("heading", name="Resultado del pago").wait_for()
    weigh("Insesp: resultado del pago", lambda: page.goto(page.url))
    phone = Phone(browser, url)
    page, role, label = phone.page, phone.page.get_by_role, phone.page.get_by_label
    weigh("Interservicios: Entrar", lambda: page.goto("/interservicios/clientes/entrar"))
    label("Correo electrónico").fill("cliente@interservicios.test")
    label("Contraseña").fill("pago-seguro-2026")
    role("button", name="Ingresar").click()
    page.wait_for_url(re.compile(r"/clientes/avisos$"))
    weigh("Interservicios: Mis avisos de cobro", lambda: page.goto(page.url))
    return pages


def main(argv: list[str]) -> int:
    common.options(__doc__, argv)  # no options: --help only
    started, load = time.monotonic(), common.machine()["load"]
    # a failure ends in a traceback and exit status 1, the portal stopped
    with tempfile.TemporaryDirectory() as tmp, portal(Path(tmp)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        common.log(f"portal {url}, Chromium {browser.version}; {RUNS} runs on slow 3G:")
        runs = [flow_run(browser, url) for _ in range(RUNS)]
        common.log("each page, empty cache, unthrottled:")
        pages, chromium = page_weights(browser, url), browser.version
    columns = zip(STEPS, zip(*runs, strict=True), strict=True)
    steps = [{"name": n, "seconds": statistics.median(c), "runs": list(c)} for n, c in columns]
    data = {"chromium": chromium, "network": NETWORK, "steps": steps, "pages": pages}
    common.save("phone", data | {"load_start": load}, started, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
