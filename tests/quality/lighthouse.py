"""Lighthouse (mobile) on the payer's main pages; writes docs/QUALITY.md. Run by `make quality`.

Starts the portal on a free 127.0.0.1 port (a fresh SQLite database with the demo data, the local
gateway emulator), walks the flows once with Playwright to have an approved payment of each
tenant, then runs Lighthouse's CLI (node_modules, see package.json) on each page with Debian's
Chromium and no network but 127.0.0.1. Fails (exit 1) when a page scores under the bar or when
the browser asked for any other host.

    CHROME_PATH=/usr/bin/chromium .venv/bin/python tests/quality/lighthouse.py [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
REPORTS = ROOT / "test-artifacts" / "lighthouse"
QUALITY_MD = ROOT / "docs" / "QUALITY.md"
CHROME_PATH = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
HOST = "127.0.0.1"
# Without the resolver rule, Chromium still looks up accounts.google.com, clients2.google.com and
# update.googleapis.com at start, whatever the other flags say; with it, no DNS query leaves.
OFFLINE_DNS = "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-background-networking "
    "--disable-component-update --disable-sync --no-first-run "
    f'--host-resolver-rules="{OFFLINE_DNS}"'
)
PLAYWRIGHT_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    f"--host-resolver-rules={OFFLINE_DNS}",
]
CATEGORIES = ("performance", "accessibility", "best-practices")
MINIMUM = {"performance": 95, "accessibility": 100, "best-practices": 95}
LIGHTHOUSE_TIMEOUT_S = 180
DEMO = {"email": "cliente@interservicios.test", "password": "pago-seguro-2026"}


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Page:
    name: str
    path: str
    flow: str  # "insesp" or "interservicios"
    cookie: str | None = None  # a logged-in customer's cookies


@dataclass
class Result:
    page: Page
    scores: dict[str, int]
    weight: int  # bytes transferred (total-byte-weight)
    requests: list[tuple[str, int]]  # (url, transferred bytes)
    foreign: list[str]
    below_one: list[str] = field(default_factory=list)  # audits that did not pass

    def failures(self) -> list[str]:
        problems = [
            f"{self.page.name}: {category} {self.scores[category]} < {minimum}"
            for category, minimum in MINIMUM.items()
            if self.scores[category] < minimum
        ]
        problems += [f"{self.page.name}: request to another host: {url}" for url in self.foreign]
        return problems


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def portal(workdir: Path) -> Iterator[str]:
    """The app with the demo data, served by werkzeug on a free port; its base URL."""
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from gaspay import create_app
    from gaspay.accounts.services import ensure_demo_customer
    from gaspay.demo import load_demo
    from gaspay.extensions import db

    port = free_port()
    url = f"http://{HOST}:{port}"
    app = create_app(
        {
            "SECRET_KEY": "lighthouse-" + "q" * 40,
            "DATABASE_URL": f"sqlite:///{workdir / 'quality.sqlite3'}",
            "SANDBOX": True,
            "SANDBOX_BASE_URL": url,
            "SANDBOX_SEND_EVENTS": True,
            "SANDBOX_EVENT_DELAY_SECONDS": 0.2,
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "gaspay" / "migrations"))
        load_demo(str(workdir), set(app.extensions["gaspay.tenants"]))
        ensure_demo_customer()
        db.session.remove()
    server = make_server(HOST, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def prepare(base_url: str) -> list[Page]:
    """Walks both flows once (JavaScript off: plain forms) for a payment result of each."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROME_PATH,
            args=PLAYWRIGHT_ARGS,
        )
        try:
            context = browser.new_context(base_url=base_url, java_script_enabled=False)
            page = context.new_page()
            bank_step = ""
            for number in ("21054", "21053"):  # the bank step of one, the other is paid
                page.goto("/insesp/factura")
                page.get_by_label("Número de Factura").fill(number)
                page.get_by_role("button", name="Continuar").click()
                page.get_by_role("button", name=re.compile(r"^Pagar")).first.click()
                expect(page.get_by_role("heading", name=re.compile("^Pago PSE"))).to_be_visible()
                bank_step = bank_step or page.url
            page.get_by_role("radio", name="Persona", exact=True).check()
            page.get_by_label("A continuación seleccione su banco").select_option(
                label="Banco que aprueba (sandbox)"
            )
            page.get_by_label("Número de documento").fill("1099888777")
            page.get_by_role("checkbox", name=re.compile("términos y condiciones")).check()
            page.get_by_role("checkbox", name=re.compile("tratamiento de mis datos")).check()
            page.get_by_role("button", name="Clic para continuar con el pago").click()
            page.get_by_label("Soy un usuario registrado").check()
            page.get_by_label("E-mail registrado en PSE").fill("usuario.demo@correo.test")
            page.get_by_role("button", name="Ir al Banco").click()
            expect(page.get_by_role("heading", name="Resultado del pago")).to_be_visible()
            insesp_result = urlsplit(page.url).path

            customer = browser.new_context(base_url=base_url, java_script_enabled=False)
            page = customer.new_page()
            page.goto("/interservicios/clientes/entrar")
            page.get_by_label("Correo electrónico").fill(DEMO["email"])
            page.get_by_label("Contraseña").fill(DEMO["password"])
            page.get_by_role("button", name="Ingresar").click()
            expect(page.get_by_role("heading", name="Mis avisos de cobro")).to_be_visible()
            page.get_by_role("link", name=re.compile("AV-100245-02")).click()
            page.get_by_role("checkbox", name="Acepto los términos y condiciones").check()
            page.get_by_role("button", name="Pagar con Wompi").click()
            page.get_by_role("button", name="Pagar con Wompi").click()
            page.get_by_label("Tarjeta de crédito o débito").check()
            page.get_by_label("Número de la tarjeta").fill("4242 4242 4242 4242")
            page.get_by_role("button", name=re.compile(r"^Pagar \$")).click()
            expect(page.get_by_text("¡Pago realizado con éxito!")).to_be_visible()
            receipt = urlsplit(page.url).path
            cookie = "; ".join(f"{c['name']}={c['value']}" for c in customer.cookies())
        finally:
            browser.close()
    bank_path = bank_step.removeprefix(base_url)
    return [
        Page("Insesp: inicio", "/insesp/", "insesp"),
        Page("Insesp: Número de Factura", "/insesp/factura", "insesp"),
        Page("Insesp: factura → paso PSE (banco)", bank_path, "insesp"),
        Page("Insesp: resultado del pago (aprobado)", insesp_result, "insesp"),
        Page("Interservicios: Entrar", "/interservicios/clientes/entrar", "interservicios"),
        Page(
            "Interservicios: Mis avisos de cobro",
            "/interservicios/clientes/avisos",
            "interservicios",
            cookie,
        ),
        Page("Interservicios: comprobante (aprobado)", receipt, "interservicios", cookie),
    ]


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def run_lighthouse(base_url: str, page: Page) -> Result:
    REPORTS.mkdir(parents=True, exist_ok=True)
    output = REPORTS / f"{slug(page.name)}.json"
    command = [
        str(LIGHTHOUSE),
        base_url + page.path,
        "--form-factor=mobile",
        f"--only-categories={','.join(CATEGORIES)}",
        "--output=json",
        f"--output-path={output}",
        f"--chrome-flags={CHROME_FLAGS}",
        "--quiet",
    ]
    if page.cookie:
        command.append(f"--extra-headers={json.dumps({'Cookie': page.cookie})}")
    env = {**os.environ, "CHROME_PATH": CHROME_PATH}
    say(f"lighthouse {page.path}")
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=LIGHTHOUSE_TIMEOUT_S, check=False
    )
    if done.returncode != 0 or not output.exists():
        raise SystemExit(f"lighthouse failed on {page.path}:\n{done.stdout}\n{done.stderr}")
    report = json.loads(output.read_text())
    if report.get("runtimeError"):
        raise SystemExit(f"lighthouse error on {page.path}: {report['runtimeError']}")
    audits = report["audits"]
    items = audits["network-requests"]["details"]["items"]
    requests = [(item["url"], int(item.get("transferSize") or 0)) for item in items]
    foreign = [
        url
        for url, _ in requests
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname != HOST
    ]
    scored = {
        ref["id"]
        for category in report["categories"].values()
        for ref in category["auditRefs"]
        if ref.get("weight")
    }
    below_one = sorted(
        f"{audit_id}{'' if audit_id in scored else ' (no weight)'}"
        for audit_id, audit in audits.items()
        if audit.get("score") is not None
        and audit["score"] < 1
        and audit.get("scoreDisplayMode") in ("binary", "numeric", "metricSavings")
    )
    return Result(
        page=page,
        scores={c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES},
        weight=int(audits["total-byte-weight"]["numericValue"]),
        requests=requests,
        foreign=foreign,
        below_one=below_one,
    )


def kb(size: int) -> str:
    return f"{size / 1024:.1f} KB".replace(".", ",")


def flow_weights(results: list[Result], flow: str) -> tuple[int, int]:
    """(every page loaded with an empty cache, the same with static files cached once loaded)."""
    cold = sum(r.weight for r in results if r.page.flow == flow)
    seen: set[str] = set()
    warm = 0
    for result in (r for r in results if r.page.flow == flow):
        for url, size in result.requests:
            static = "/static/" in urlsplit(url).path
            if static and url in seen:
                continue
            seen.add(url)
            warm += size
    return cold, warm


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores{memory}"


def version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "?"
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else "?"


def write_markdown(results: list[Result]) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(
        f"| {r.page.name} | `{re.sub(r'/pagos/[^/]+$', '/pagos/<ref>', r.page.path.split('?')[0])}`"
        f" | {r.scores['performance']} | {r.scores['accessibility']}"
        f" | {r.scores['best-practices']} | {kb(r.weight)} | {len(r.requests)} |"
        for r in results
    )
    insesp_cold, insesp_warm = flow_weights(results, "insesp")
    inter_cold, inter_warm = flow_weights(results, "interservicios")
    not_passed = sorted({a for r in results for a in r.below_one})
    bf_failed = [r.page.name for r in results if any(a.startswith("bf-cache") for a in r.below_one)]
    bf_cache = BF_CACHE_PASSED
    if bf_failed:
        bf_cache = f"In this run it failed on: {', '.join(bf_failed)}."
    foreign = sorted({u for r in results for u in r.foreign})
    text = TEMPLATE.format(
        date=now,
        machine=machine(),
        chromium=version([CHROME_PATH, "--version"]),
        node=version(["node", "--version"]),
        lighthouse=version([str(LIGHTHOUSE), "--version"]),
        rows=rows,
        perf=MINIMUM["performance"],
        a11y=MINIMUM["accessibility"],
        bp=MINIMUM["best-practices"],
        insesp_cold=kb(insesp_cold),
        insesp_warm=kb(insesp_warm),
        inter_cold=kb(inter_cold),
        inter_warm=kb(inter_warm),
        not_passed=", ".join(f"`{a}`" for a in not_passed) or "none",
        foreign="none" if not foreign else ", ".join(foreign),
        flags=CHROME_FLAGS,
        bf_cache=bf_cache,
    )
    QUALITY_MD.write_text(text, encoding="utf-8")


TEMPLATE = """# Quality: Lighthouse on the payer's pages

- Command: `make quality`
- Date: {date}
- Machine: {machine}
- Browser and tools: {chromium}; Node {node}; Lighthouse {lighthouse}

The numbers change a little from run to run; the bar does not.

`make quality` runs `tests/quality/lighthouse.py`: it starts the portal on a free 127.0.0.1 port
with a fresh SQLite database, the demo data and the local gateway emulator; pays one Insesp bill
(PSE, approving bank) and one Interservicios notice (card 4242…) with Playwright to have real
result pages; then runs, for each page,

```sh
CHROME_PATH=/usr/bin/chromium node_modules/.bin/lighthouse <url> --form-factor=mobile \\
  --only-categories=performance,accessibility,best-practices --output=json \\
  --chrome-flags="{flags}"
```

(the customer's pages get the logged-in session cookie with `--extra-headers`). Lighthouse's
mobile defaults apply: a 412x823 phone, simulated slow 4G and a 4x slower CPU. Reports are kept
in `test-artifacts/lighthouse/`. The run fails when a page scores under the bar —
performance ≥ {perf}, accessibility = {a11y}, best practices ≥ {bp} — or when the browser asks for
any host other than 127.0.0.1.

| page | path | performance | accessibility | best practices | transferred | requests |
|---|---|---:|---:|---:|---:|---:|
{rows}

"Transferred" is Lighthouse's `total-byte-weight`: every byte of the page and its CSS and
scripts (app.js; payer pages carry no htmx), compressed as sent, with an empty cache.

**Whole flows.** Insesp (home → "Número de Factura" → bill and bank step → result):
{insesp_cold} loading every page with an empty cache, **{insesp_warm}** as a phone really loads
them (static files carry a content hash and are cached for a year, so they arrive once).
Interservicios (Entrar → Mis avisos de cobro → receipt): {inter_cold} cold, {inter_warm} with
static files cached. The bill lookup itself (a POST answered with the whole page) is not a URL
Lighthouse can open; its bill is shown again on the bank step, which is measured.

**Requests to other hosts:** {foreign} (Lighthouse's `network-requests`). Chromium itself is
kept off the network by `--host-resolver-rules`: without it, even with the other flags, Debian's
Chromium looks up accounts.google.com, clients2.google.com and update.googleapis.com when it
starts (seen with strace; the look-ups leave the machine, the connections then fail). With it no
DNS query is sent; only Chromium's IPv6 reachability probe remains, a UDP `connect()` that sends
no packet.

**Audits that did not fully pass** (on some page): {not_passed}. "(no weight)" means the audit
does not count towards its category's score. The render-blocking and dependency-tree audits point
at app.css (about 2 KB compressed), the one stylesheet, linked on purpose: inlining it would send
it again with every page and need a CSP exception. app.js (about 1 KB compressed) is deferred
and, like app.css, cached for a year.

The back/forward cache audit (`bf-cache`) may fail by design: every page that shows a bill, a
payment or a customer's data is sent with `Cache-Control: no-store` (`gaspay/web/security.py`),
so that a shared phone's "back" button does not show someone else's bill or receipt from memory,
and Chromium has long kept no-store pages out of the back/forward cache. Any such failure costs a
reload on "back" and weighs nothing in the scores.

{bf_cache}

To run it again: `make quality` (it runs `npm ci` first when `node_modules/` is missing; no
browser is downloaded: Lighthouse drives Debian's Chromium at `CHROME_PATH`).
"""


BF_CACHE_PASSED = """In this run `bf-cache` passed on every page: recent Chromium versions let a
no-store page into the back/forward cache as long as no cookie changed since it was shown (logging
out changes the session cookie, so the customer's pages are evicted then)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="do not rewrite docs/QUALITY.md")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the migration's and werkzeug's logs; this script prints
    if not LIGHTHOUSE.exists():
        raise SystemExit("node_modules/.bin/lighthouse is missing: run `npm ci` (make quality)")
    if not shutil.which(CHROME_PATH) and not os.access(CHROME_PATH, os.X_OK):
        raise SystemExit(f"no Chromium at {CHROME_PATH} (make chromium)")
    with tempfile.TemporaryDirectory(prefix="gaspay-quality-") as tmp, portal(Path(tmp)) as url:
        pages = prepare(url)
        results = [run_lighthouse(url, page) for page in pages]
    for r in results:
        scores = " ".join(f"{c}={r.scores[c]}" for c in CATEGORIES)
        say(f"{r.page.name:45} {scores} {kb(r.weight)}")
    if not args.no_write:
        write_markdown(results)
        say(f"wrote {QUALITY_MD.relative_to(ROOT)}")
    failures = [f for r in results for f in r.failures()]
    for failure in failures:
        say(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
