"""The outbox's test rig: an app with a webhook endpoint on a local receiver, a fast retry
schedule, the mail written to a temporary folder; a scriptable HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gaspay.extensions import db

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + base64.b64encode(b"gaspay-outbox-test-secret-32-bytes!!").decode()
FAST_SCHEDULE = [0.3, 0.6, 0.9]


@dataclass
class Received:
    at: float  # time.monotonic()
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver: each request takes the next scripted action (then answers 200)."""

    script: list = field(default_factory=list)
    delay: float = 0.0  # every answer waits this long (a slow receiver)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/gaspay"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers.get("webhook-id") for r in self.received]

    def wait_for(self, count: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return True
            time.sleep(0.02)
        return False


def start_receiver(receiver: Receiver) -> Receiver:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args):
            pass

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.received.append(
                    Received(
                        time.monotonic(),
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                action = receiver.script.pop(0) if receiver.script else ("status", 200)
            if receiver.delay:
                time.sleep(receiver.delay)
            kind = action[0]
            if kind == "close":  # the connection drops without an answer
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind == "sleep":  # longer than the sender's timeout, then an answer
                time.sleep(action[1])
                action = ("status", 200)
            status = action[1]
            headers = action[2] if len(action) > 2 else {}
            payload = b"ok" if status < 300 else b"no"
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture
def receiver():
    rx = start_receiver(Receiver())
    yield rx
    rx.server.shutdown()
    rx.server.server_close()


def outbox_config(receiver: Receiver | None, tmp_path: Path, **extra) -> dict:
    config = {
        "MAIL_DIR": str(tmp_path / "mail"),
        "OUTBOX_RETRY_SCHEDULE": FAST_SCHEDULE,
        "OUTBOX_RETRY_JITTER": 0,
        "OUTBOX_LEASE_SECONDS": 5,
        "WEBHOOK_TIMEOUT_SECONDS": 0.5,
        "WORKER_RECONCILE_SECONDS": 0,
        "WORKER_POLL_SECONDS": 0.05,
    }
    if receiver is not None:
        config.update(INSESP_WEBHOOK_URL=receiver.url, INSESP_WEBHOOK_SECRET=SECRET)
    config.update(extra)
    return config


@pytest.fixture
def make_outbox_app(make_app, app, tmp_path, request):
    """An app configured for the outbox tests, its context pushed for the test body (the `app`
    fixture under it has emptied the tables)."""
    contexts = []

    def factory(receiver: Receiver | None = None, **extra):
        configured = make_app(**outbox_config(receiver, tmp_path, **extra))
        ctx = configured.app_context()
        ctx.push()
        contexts.append(ctx)
        return configured

    yield factory
    for ctx in reversed(contexts):
        db.session.remove()
        ctx.pop()


@pytest.fixture
def oapp(make_outbox_app, receiver):
    return make_outbox_app(receiver)


@pytest.fixture
def otenant(oapp):
    return oapp.extensions["gaspay.tenants"]["insesp"]


# --- a verifier written from the Standard Webhooks specification (not the package) -----------


class Unverified(Exception):
    pass


def verify_from_spec(secret: str, headers: dict, body: bytes, *, tolerance: int = 300) -> dict:
    """Check one delivery as the spec tells a consumer to: the three headers, the timestamp
    within tolerance, and one `v1,` signature equal (in constant time) to base64 of
    HMAC-SHA256(base64-decoded secret, "{id}.{timestamp}.{body}")."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise Unverified("missing headers")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        raise Unverified("timestamp out of tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for item in signatures.split(" "):
        version, _, value = item.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return json.loads(body)
    raise Unverified("no matching signature")
