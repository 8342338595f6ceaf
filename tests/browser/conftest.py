"""Browser fixtures: the real app on a live 127.0.0.1 server, a phone-sized Chromium (Playwright).

- `live_server` (module): `create_app` with the local gateway emulator at the same address, served
  by werkzeug in a daemon thread; the sandbox sends its signed events to the app over HTTP.
- `fresh_data` (autouse): empty tables, empty emulator, the Insesp demo bills.
- `customer`: adds Interservicios' demo notices and its demo customer (who logs in).
- `js` runs every test twice: JavaScript on (app.js: focus, refresh) and off (plain forms).
- `phones`: opens phone contexts (360x800, touch, Android Chrome, es-CO); each step's full-page
  screenshot goes to test-artifacts/screenshots/<test>-<mode>-<step>.png. Console errors (CSP
  violations included), page errors, failed requests and any request to a host other than
  127.0.0.1 fail the test.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)
from werkzeug.serving import WSGIRequestHandler, make_server

from gaspay import create_app
from gaspay.accounts.services import ensure_demo_customer
from gaspay.demo import DEMO_CUSTOMER, load_demo
from gaspay.extensions import db
from gaspay.outbox import Worker
from gaspay.payments import inbox
from gaspay.sandbox import store, wait_for_events
from tests.conftest import ROOT, _empty_tables, base_config

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # No DNS look-ups but 127.0.0.1: Chromium would otherwise resolve Google hosts at start.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 13; SM-A145M) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
PHONE = {
    "viewport": {"width": 360, "height": 800},
    "screen": {"width": 360, "height": 800},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": ANDROID_CHROME,
    "locale": "es-CO",
    "timezone_id": "America/Bogota",
}
STEP_TIMEOUT_MS = 10_000
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
LOCAL_HOST = "127.0.0.1"
BAD_STATUS = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")

log = logging.getLogger("tests.browser.server")


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's request log through a named logger (pytest shows it on failure)."""

    def log(self, kind: str, message: str, *args) -> None:
        log.info("%s " + message, self.address_string(), *args)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    app: object
    url: str
    demo_dir: Path

    def cli(self, *args: str) -> str:
        """Run a `flask` command of this app (e.g. `payments reconcile`); its output."""
        result = self.app.test_cli_runner().invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture(scope="module")
def live_server(database_url, tmp_path_factory):
    port = _free_port()
    url = f"http://{LOCAL_HOST}:{port}"
    app = create_app(
        base_config(
            database_url,
            SANDBOX_BASE_URL=url,
            SANDBOX_SEND_EVENTS=True,
            SANDBOX_EVENT_DELAY_SECONDS=0.2,
            ASYNC_URL_WAIT_SECONDS=5,
            ASYNC_URL_POLL_INTERVAL=0.2,
            GATEWAY_RETRIES=1,
        )
    )
    server = make_server(LOCAL_HOST, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="gaspay-live-server",
        daemon=True,
    )
    thread.start()
    # Beside the portal, as `make run` starts it: the worker applies the gateways' notifications
    # (the tests that look at e-mails and webhooks deliver those themselves).
    worker = Worker(app, kinds=[inbox.KIND], poll_seconds=0.1, reconcile_seconds=0)
    worker_thread = threading.Thread(target=worker.run, name="gaspay-live-worker", daemon=True)
    worker_thread.start()
    try:
        yield LiveServer(app=app, url=url, demo_dir=tmp_path_factory.mktemp("demo"))
    finally:
        wait_for_events(10)
        worker.stop()
        worker_thread.join(10)
        server.shutdown()
        server.server_close()
        thread.join(10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(autouse=True)
def fresh_data(live_server):
    """Every test starts from the demo bills and an empty emulator; events are sent."""
    app = live_server.app
    assert wait_for_events(10), "a sandbox event from the previous test is still being sent"
    store.reset()
    app.config["SANDBOX_SEND_EVENTS"] = True
    with app.app_context():
        _empty_tables()
        load_demo(str(live_server.demo_dir), {"insesp"})
        db.session.remove()
    yield
    app.config["SANDBOX_SEND_EVENTS"] = True
    assert wait_for_events(10), "a sandbox event was still being sent at the end of the test"


@pytest.fixture
def customer(live_server) -> dict:
    """Interservicios' demo notices and customer (one "Pagado", two "No Pagado" notices)."""
    app = live_server.app
    with app.app_context():
        load_demo(str(live_server.demo_dir), {"interservicios"})
        ensure_demo_customer()
        db.session.remove()
    return DEMO_CUSTOMER


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):  # CI installs it (make test -> make chromium): never hide that
            pytest.fail(f"no Chromium at {CHROMIUM} in CI (make chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (make chromium)")
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(params=["js", "nojs"])
def js(request) -> str:
    return request.param


def png_size(path: Path) -> tuple[int, int]:
    with path.open("rb") as fh:
        header = fh.read(24)
    return struct.unpack(">II", header[16:24])


@dataclass
class Watch:
    """What went wrong in any of a test's browser contexts."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    # (status, path pattern): error statuses a test asked for, e.g. a form answered with 422.
    expected_statuses: list[tuple[int, re.Pattern]] = field(default_factory=list)

    def expected(self, text: str, where: str) -> bool:
        """Chromium logs every 4xx/5xx response, pages included: is this one on purpose?"""
        found = BAD_STATUS.match(text)
        if found is None:
            return False
        status, path = int(found.group(1)), urlsplit(where).path
        return any(status == s and pattern.search(path) for s, pattern in self.expected_statuses)

    def attach(self, context: BrowserContext, who: str) -> None:
        def on_console(message: ConsoleMessage) -> None:
            where = message.location.get("url", "")
            if message.type == "error" and not self.expected(message.text, where):
                self.console_errors.append(f"[{who}] {message.text} ({where})")

        def on_request(request) -> None:
            parts = urlsplit(request.url)
            if parts.scheme in ("data", "blob", "about"):
                return
            if parts.hostname != LOCAL_HOST:
                self.foreign_requests.append(f"[{who}] {request.method} {request.url}")

        def on_failed(request) -> None:
            self.failed_requests.append(
                f"[{who}] {request.method} {request.url}: {request.failure}"
            )

        context.on("console", on_console)
        context.on("weberror", lambda error: self.console_errors.append(f"[{who}] {error.error}"))
        context.on("request", on_request)
        context.on("requestfailed", on_failed)

    def problems(self) -> list[str]:
        return [
            *(f"console error: {e}" for e in self.console_errors),
            *(f"request to another host: {r}" for r in self.foreign_requests),
            *(f"failed request: {r}" for r in self.failed_requests),
        ]


class Phone:
    """One person's phone: a browser context with one page, and numbered screenshots."""

    def __init__(self, context: BrowserContext, prefix: str, who: str, counter: list[int]):
        self.context = context
        self.page: Page = context.new_page()
        self.prefix = prefix
        self.who = who
        self._counter = counter

    def shot(self, step: str) -> Path:
        """Full-page screenshot of this step; the page must fit the screen's width."""
        self._counter[0] += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = "-".join(p for p in (f"{self._counter[0]:02d}", self.who, step) if p)
        path = SCREENSHOTS / f"{self.prefix}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True, scale="css", animations="disabled")
        width, _ = png_size(path)
        screen = (self.page.viewport_size or PHONE["viewport"])["width"]  # a phone, or a desk
        assert width <= screen, f"{path.name}: the page is {width}px wide on a {screen}px screen"
        return path


class Phones:
    """Opens phones for one test (the payer first, then others) and checks what they saw."""

    def __init__(self, browser: Browser, base_url: str, test: str, mode: str):
        self.browser = browser
        self.base_url = base_url
        self.test = test
        self.mode = mode
        self.watch = Watch()
        self.opened: list[Phone] = []
        self._counter = [0]

    @property
    def javascript(self) -> bool:
        return self.mode == "js"

    def open(self, who: str = "") -> Phone:
        context = self.browser.new_context(
            **PHONE, java_script_enabled=self.javascript, base_url=self.base_url
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
        self.watch.attach(context, who or "pagador")
        phone = Phone(context, f"{self.test}-{self.mode}", who, self._counter)
        self.opened.append(phone)
        return phone

    def allow_status(self, status: int, path: str) -> None:
        """The test expects `status` from pages whose path matches `path` (a regex)."""
        self.watch.expected_statuses.append((status, re.compile(path)))

    def assert_clean(self) -> None:
        problems = self.watch.problems()
        assert not problems, "the browser saw problems:\n" + "\n".join(problems)

    def close(self) -> None:
        for phone in self.opened:
            phone.context.close()
        self.opened.clear()


@pytest.fixture
def phones(browser, live_server, js, request):
    test = request.node.originalname.removeprefix("test_")
    opened = Phones(browser, live_server.url, test, js)
    try:
        yield opened
        problems = opened.watch.problems()  # before closing: closing may abort a request
    finally:
        opened.close()
    assert not problems, "the browser saw problems:\n" + "\n".join(problems)
