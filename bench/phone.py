"""Issue 16's payer targets, `python bench/phone.py` -> bench/out/phone.json (exit 1: no flow);
how it measures: bench/README.md."""

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

import common
from playwright.sync_api import sync_playwright

ROOT, OUT = common.ROOT, common.OUT / "phone.json"
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]
ARGS += ["--disable-component-update", "--no-first-run", "--disable-quic"]
ARGS += ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
UA = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
PHONE = dict(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True)
PHONE.update(has_touch=True, user_agent=UA, locale="es-CO", timezone_id="America/Bogota")
NET = {"offline": False, "latency": 400, "downloadThroughput": 50_000, "uploadThroughput": 50_000}
NETWORK = {"down_kbps": 400, "up_kbps": 400, "rtt_ms": 400}  # NET, as reported
STEPS = ("first page", "bill after Continuar", "PSE step")
RUNS, CLIENT, BANK = 5, "0021053", "A continuación seleccione su banco"
TAP = "addEventListener('click', () => sessionStorage.tap = Date.now(), true)"  # across pages
RENDERED = "s => document.querySelector(s)?.getBoundingClientRect().height > 0"
RENDERED += " && Date.now() - sessionStorage.tap"
LOADED = "[performance.getEntriesByType('navigation')[0].loadEventEnd, "
LOADED += "performance.getEntriesByName('first-contentful-paint')[0]?.startTime]"


@contextmanager
def portal(tmp: Path):
    """The demo portal under gunicorn on a free port of 5600-5699; its URL. Stopped on exit."""
    for port in range(5600, 5700):  # the first free one
        with suppress(OSError), socket.create_server(("127.0.0.1", port)):
            break
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GASPAY_", "FLASK_"))}
    env.update(PORT=str(port), GASPAY_INSTANCE_PATH=str(tmp))  # PORT: the sandbox's address
    env.update(GASPAY_DATABASE_URL=f"sqlite:///{tmp / 'phone.sqlite3'}")
    env.update(GASPAY_TENANTS_DIR=str(ROOT / "instance" / "tenants"))
    for command in (["db", "upgrade"], ["demo", "load"]):
        flask = [BIN / "flask", "--app", "gaspay", *command]
        done = subprocess.run(flask, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"flask {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    gunicorn = [BIN / "gunicorn", "--workers", "1", "--threads", "8", "--worker-class", "gthread"]
    gunicorn += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"]
    log = (tmp / "gunicorn.log").open("w")
    proc = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 30
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            with suppress(OSError):
                urllib.request.urlopen(url + "/insesp/factura", timeout=2).close()  # noqa: S310
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"gunicorn did not serve:\n{(tmp / 'gunicorn.log').read_text()}")
        yield url
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(15)
        proc.kill()  # nothing once it has exited


class Phone:
    """A new browser context (empty cache), its page and the requests its CDP session saw."""

    def __init__(self, browser, url: str, emulate: bool = False) -> None:
        self.context = browser.new_context(**PHONE, base_url=url)
        self.context.add_init_script(TAP)
        self.page, self.reqs = self.context.new_page(), {}
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("Network.enable")
        if emulate:
            self.cdp.send("Network.emulateNetworkConditions", NET)
        for event in ("requestWillBeSent", "responseReceived", "loadingFinished"):
            self.cdp.on(f"Network.{event}", self._event)

    def _event(self, e: dict) -> None:
        if "request" in e and e["request"]["url"].startswith("http"):
            r = self.reqs.setdefault(e["requestId"], {"t0": e["timestamp"], "bytes": 0, "via": ""})
            if redirect := e.get("redirectResponse"):  # its bytes, then the next URL
                r["bytes"] += int(redirect.get("encodedDataLength", 0))
                r["via"] += f"{redirect['status']}→"
            r.update(url=e["request"]["url"], method=e["request"]["method"])
        elif (r := self.reqs.get(e["requestId"])) and "response" in e:
            enc = e["response"]["headers"].get("Content-Encoding", "-")
            r.update(status=e["response"]["status"], enc=enc)
        elif r:  # loadingFinished
            r.update(t1=e["timestamp"], bytes=r["bytes"] + int(e["encodedDataLength"]))

    def take(self, title: str | bool = "") -> list[dict]:
        """The requests since the last take, listed under `title` if any."""
        reqs, self.reqs = sorted(self.reqs.values(), key=lambda r: r["t0"]), {}
        if title:
            print(f"  {title}: {len(reqs)} requests, {sum(r['bytes'] for r in reqs)} B")
        for r in reqs if title else ():
            path = re.sub(r"[?&](v|factura|id)=[^&]+", "", r["url"].split("/", 3)[3])
            t0, t1 = r["t0"] - reqs[0]["t0"], r.get("t1", r["t0"]) - reqs[0]["t0"]
            status = f"{r['via']}{r.get('status', '?')} {r.get('enc', '-')}"
            print(f"    {t0:5.2f}-{t1:5.2f} s {r['method']:4} {status:10} {r['bytes']:6} B /{path}")
        return reqs

    def rendered(self, selector: str) -> float:  # from the last click to the frame laying it out
        found = self.page.wait_for_function(RENDERED, arg=selector, polling="raf")
        return round(found.json_value() / 1000, 3)


def flow_run(browser, url: str, show: bool) -> list[float]:
    page = (phone := Phone(browser, url, emulate=True)).page
    page.goto("/insesp/factura", wait_until="load")
    load, paint = page.evaluate(LOADED)
    paint = f"{paint / 1000:.2f} s" if paint else "not reported"  # Chromium may not report it
    phone.take(show and f"first page: load {load / 1000:.3f} s (first paint {paint})")
    page.get_by_label("Número de Factura").fill(CLIENT)
    page.get_by_role("button", name="Continuar").click()
    bill = phone.rendered("#resultado article.bill")
    phone.take(show and f"bill after Continuar: {bill} s")
    page.get_by_role("button", name="Pagar $ 18.000").click()
    page.wait_for_url(re.compile(r"/pse/pagar"), wait_until="commit")
    pse = phone.rendered("select[name=banco]")
    page.wait_for_load_state("load")
    phone.take(show and f"PSE step: {pse} s (0 B: from the cache)")
    phone.context.close()
    return [round(load / 1000, 3), bill, pse]


def page_weights(browser, url: str) -> list[dict]:
    pages: list[dict] = []

    def weigh(name: str, action) -> None:
        page.wait_for_load_state("networkidle")
        phone.take()
        phone.cdp.send("Network.clearBrowserCache")
        with page.expect_navigation(wait_until="load"):
            action()
        page.wait_for_load_state("networkidle")
        path = re.sub(r"/pagos/[^/?]+", "/pagos/<ref>", page.url.split("/", 3)[3].split("?")[0])
        reqs = phone.take(f"{name} /{path}")
        bytes_ = sum(r["bytes"] for r in reqs)
        pages.append({"page": name, "path": f"/{path}", "bytes": bytes_, "requests": len(reqs)})

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


def main() -> int:
    started, load_start = time.perf_counter(), [round(x, 2) for x in os.getloadavg()]
    with (  # a failure ends in a traceback and exit status 1, the portal stopped
        tempfile.TemporaryDirectory(prefix="gaspay-phone-") as tmp,
        portal(Path(tmp)) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        print(f"portal {url}, Chromium {browser.version}, load {os.getloadavg()[0]:.1f}; run 1:")
        runs = [flow_run(browser, url, show=i == 0) for i in range(RUNS)]
        pages, chromium = page_weights(browser, url), browser.version
    columns = zip(STEPS, zip(*runs, strict=True), strict=True)
    steps = [{"name": n, "seconds": statistics.median(c), "runs": list(c)} for n, c in columns]
    finished = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report = {"machine": common.machine() | {"chromium": chromium}, "commit": common.commit()}
    report.update(command="python bench/phone.py", network=NETWORK, steps=steps, pages=pages)
    report.update(finished=finished, wall_s=time.perf_counter() - started, load_start=load_start)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\n{'step (slow 3G; target <= 2.0 s)':36} median  runs")
    for s in steps:
        print(f"{s['name']:36} {s['seconds']:6.2f}  {' '.join(f'{x:.2f}' for x in s['runs'])}")
    print(f"\n{'page (target <= 20 KB)':36} {'path':32} {'bytes':>7} requests")
    for p in pages:
        print(f"{p['page']:36} {p['path']:32} {p['bytes']:7} {p['requests']:8}")
    took, load = time.perf_counter() - started, os.getloadavg()[0]
    print(f"\nwrote {OUT.relative_to(ROOT)} in {took:.0f} s (load average {load:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
