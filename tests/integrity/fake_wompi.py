"""A controllable fake of Wompi's API on 127.0.0.1, for the app servers under test.

It answers the endpoints the portal uses, shaped as docs/wompi.md documents them:

- ``GET  /v1/merchants/<public key>``: both presigned acceptance tokens;
- ``GET  /v1/pse/financial_institutions`` (Bearer public key): the bank list;
- ``POST /v1/transactions`` (Bearer public key): checks the integrity signature, echoes the
  reference, keeps the transaction in memory; a reference used before gets a 422 like Wompi;
- ``GET  /v1/transactions/<id>``: with ``payment_method.extra.async_payment_url`` once created,
  and ``traceability_code`` (the CUS) once final;
- ``GET  /v1/transactions?reference=`` (Bearer private key): that merchant's transactions.

Each step (``merchant``, ``banks``, ``create``, ``status``, ``find``) has a fault switch:

- ``timeout``: answer only after the app's timeout has passed;
- ``500``: an HTTP 500;
- ``garbage``: HTTP 200 whose body is not JSON;
- ``close``: drop the connection without a word.

A fault on ``create`` records the transaction first unless ``store=False`` (the worst case: the
gateway took the payment and we never heard). The test plays the bank with ``decide``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

STEPS = ("merchant", "banks", "create", "status", "find")
FAULTS = ("timeout", "500", "garbage", "close")
FINAL = ("APPROVED", "DECLINED", "VOIDED", "ERROR")
BANKS = [
    {"financial_institution_code": "0", "financial_institution_name": "A continuación..."},
    {"financial_institution_code": "1007", "financial_institution_name": "BANCOLOMBIA"},
    {"financial_institution_code": "1051", "financial_institution_name": "DAVIVIENDA"},
]
BANK_CODE = "1007"


@dataclass(frozen=True)
class Merchant:
    slug: str
    public_key: str
    private_key: str
    integrity_secret: str


@dataclass
class Txn:
    id: str
    merchant: str  # the tenant's slug
    reference: str
    amount_in_cents: int
    currency: str
    method: str
    email: str
    redirect_url: str | None
    status: str = "PENDING"
    cus: str | None = None
    created_at: float = field(default_factory=time.time)

    def as_json(self, base_url: str, *, with_url: bool = True) -> dict:
        extra: dict = {}
        if with_url and self.method == "PSE":
            extra["async_payment_url"] = f"{base_url}/banco/{self.id}"
        if self.status != "PENDING":
            extra["traceability_code"] = self.cus
        return {
            "id": self.id,
            "created_at": "2026-11-22T15:00:00.000Z",
            "finalized_at": None if self.status == "PENDING" else "2026-11-22T15:05:00.000Z",
            "amount_in_cents": self.amount_in_cents,
            "reference": self.reference,
            "currency": self.currency,
            "customer_email": self.email,
            "payment_method_type": self.method,
            "payment_method": {"type": self.method, "extra": extra},
            "status": self.status,
            "status_message": None if self.status != "DECLINED" else "Transacción rechazada",
            "redirect_url": self.redirect_url,
        }


class FakeWompi:
    def __init__(self, merchants: list[Merchant], *, timeout_sleep: float):
        self.merchants = {m.public_key: m for m in merchants}
        self.by_private = {m.private_key: m for m in merchants}
        self.timeout_sleep = timeout_sleep
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.reset()

    # -- control ---------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.faults: dict[str, tuple[str, bool]] = {}
            self.txns: dict[str, Txn] = {}
            self.calls: Counter[str] = Counter()
            self.faulted: Counter[str] = Counter()
            self.rejected_signatures = 0
            self.status_delay = 0.0
            self.on_status: Callable[[str], None] | None = None
            self.on_request: Callable[[str], None] | None = None

    def set_fault(self, step: str, fault: str, *, store: bool = True) -> None:
        assert step in STEPS and fault in FAULTS, (step, fault)
        with self.lock:
            self.faults[step] = (fault, store)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def decide(self, txn_id: str, status: str) -> None:
        """The bank's word: the transaction's final status (and its CUS)."""
        assert status in FINAL
        with self.lock:
            txn = self.txns[txn_id]
            txn.status = status
            txn.cus = f"CUS{txn_id.replace('-', '')}"

    def checkout_payment(self, slug: str, reference: str, amount: int, status: str) -> Txn:
        """A payer paying on the hosted Web Checkout (the browser talks to Wompi, not us)."""
        merchant = next(m for m in self.merchants.values() if m.slug == slug)
        with self.lock:
            txn = self._new_txn(
                merchant, reference, amount, "COP", "CARD", "pagador@correo.test", None
            )
        if status != "PENDING":
            self.decide(txn.id, status)
        return txn

    def transactions(self) -> list[Txn]:
        with self.lock:
            return list(self.txns.values())

    def txn_json(self, txn_id: str) -> dict:
        with self.lock:
            return self.txns[txn_id].as_json(self.url)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + "/v1"

    @property
    def pay_url_prefix(self) -> str:
        """Where a created PSE transaction sends the payer (the bank's page)."""
        return self.url + "/banco/"

    @staticmethod
    def txn_id_of(bank_url: str) -> str:
        return bank_url.rsplit("/", 1)[1]

    # -- server ----------------------------------------------------------------------------

    def start(self) -> FakeWompi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def log_message(self, *args):  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # fifty payers at once must not find the door shut

            def handle_error(self, request, client_address):
                pass  # a client that gave up (timeout fault) is expected

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- request handling ------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        query = parse_qs(parts.query)
        body = b""
        if method == "POST":
            body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        auth = (h.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if method == "GET" and path.startswith("/v1/merchants/"):
            step = "merchant"
        elif method == "GET" and path == "/v1/pse/financial_institutions":
            step = "banks"
        elif method == "POST" and path == "/v1/transactions":
            step = "create"
        elif method == "GET" and path.startswith("/v1/transactions/"):
            step = "status"
        elif method == "GET" and path == "/v1/transactions":
            step = "find"
        else:
            self._send(h, 404, {"error": {"type": "NOT_FOUND_ERROR", "reason": "Ruta"}})
            return
        with self.lock:
            self.calls[step] += 1
            fault, store = self.faults.get(step, (None, True))
            hook = self.on_request
        if hook is not None:
            hook(step)
        if fault and not (step == "create" and store):
            self._fault(h, step, fault)
            return
        status, payload = getattr(self, f"_{step}")(path, query, body, auth)
        if fault:  # create, stored first: the gateway has the transaction; we never hear
            self._fault(h, step, fault)
            return
        self._send(h, status, payload)

    def _fault(self, h: BaseHTTPRequestHandler, step: str, fault: str) -> None:
        with self.lock:
            self.faulted[step] += 1
        if fault == "timeout":
            time.sleep(self.timeout_sleep)
            self._send(h, 200, {"data": None, "meta": {"late": True}})
        elif fault == "500":
            self._send(h, 500, {"error": {"type": "INTERNAL_ERROR"}})
        elif fault == "garbage":
            self._send_raw(h, 200, b"<html>Bad gateway</html>{{{", "application/json")
        else:  # close: no status line, no headers, nothing
            h.close_connection = True

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        self._send_raw(h, status, json.dumps(payload).encode(), "application/json")

    @staticmethod
    def _send_raw(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass  # the client gave up first

    # -- endpoints -------------------------------------------------------------------------

    def _merchant(self, path, query, body, auth):
        key = unquote(path.rsplit("/", 1)[1])
        if key not in self.merchants:
            return 404, {"error": {"type": "NOT_FOUND_ERROR", "reason": "Comercio"}}
        return 200, {
            "data": {
                "id": 1,
                "public_key": key,
                "presigned_acceptance": {
                    "acceptance_token": f"accept-{time.time_ns()}",
                    "permalink": f"{self.url}/terminos.pdf",
                    "type": "END_USER_POLICY",
                },
                "presigned_personal_data_auth": {
                    "acceptance_token": f"personal-{time.time_ns()}",
                    "permalink": f"{self.url}/datos.pdf",
                    "type": "PERSONAL_DATA_AUTH",
                },
            },
            "meta": {},
        }

    def _banks(self, path, query, body, auth):
        if auth not in self.merchants:
            return 401, {"error": {"type": "AUTHENTICATION_UNAUTHORIZED"}}
        return 200, {"data": BANKS, "meta": {}}

    def _create(self, path, query, body, auth):
        merchant = self.merchants.get(auth)
        if merchant is None:
            return 401, {"error": {"type": "AUTHENTICATION_UNAUTHORIZED"}}
        try:
            data = json.loads(body)
            reference = data["reference"]
            amount = data["amount_in_cents"]
            currency = data["currency"]
            method = data["payment_method"]
        except (ValueError, KeyError, TypeError):
            return 422, {"error": {"type": "INPUT_VALIDATION_ERROR", "messages": {"body": ["?"]}}}
        expected = hashlib.sha256(
            f"{reference}{amount}{currency}{merchant.integrity_secret}".encode()
        ).hexdigest()
        problems = {}
        if data.get("signature") != expected:
            problems["signature"] = ["La firma es inválida"]
        if not data.get("acceptance_token") or not data.get("accept_personal_auth"):
            problems["acceptance_token"] = ["Requerido"]
        if method.get("financial_institution_code") not in {
            b["financial_institution_code"] for b in BANKS[1:]
        }:
            problems["financial_institution_code"] = ["Entidad no válida"]
        with self.lock:
            if any(
                t.reference == reference and t.merchant == merchant.slug for t in self.txns.values()
            ):
                problems["reference"] = ["La referencia ya ha sido usada"]
            if problems:
                self.rejected_signatures += "signature" in problems
                return 422, {"error": {"type": "INPUT_VALIDATION_ERROR", "messages": problems}}
            txn = self._new_txn(
                merchant,
                reference,
                amount,
                currency,
                "PSE",
                data.get("customer_email", ""),
                data.get("redirect_url"),
            )
            return 201, {"data": txn.as_json(self.url, with_url=False), "meta": {}}

    def _new_txn(self, merchant, reference, amount, currency, method, email, redirect_url) -> Txn:
        """Record a transaction (call with the lock held)."""
        n = next(self._ids)
        txn = Txn(
            id=f"{1000 + n}-{int(time.time())}-{n:05d}",
            merchant=merchant.slug,
            reference=reference,
            amount_in_cents=amount,
            currency=currency,
            method=method,
            email=email,
            redirect_url=redirect_url,
        )
        self.txns[txn.id] = txn
        return txn

    def _status(self, path, query, body, auth):
        txn_id = unquote(path.rsplit("/", 1)[1])
        with self.lock:
            hook, delay = self.on_status, self.status_delay
        if hook is not None:
            hook(txn_id)
        if delay:
            time.sleep(delay)
        with self.lock:
            txn = self.txns.get(txn_id)
            if txn is None:
                return 404, {"error": {"type": "NOT_FOUND_ERROR", "reason": "Transacción"}}
            return 200, {"data": txn.as_json(self.url), "meta": {}}

    def _find(self, path, query, body, auth):
        merchant = self.by_private.get(auth)
        if merchant is None:
            return 401, {"error": {"type": "AUTHENTICATION_UNAUTHORIZED"}}
        reference = (query.get("reference") or [""])[0]
        with self.lock:
            found = [
                t.as_json(self.url)
                for t in self.txns.values()
                if t.merchant == merchant.slug and t.reference == reference
            ]
        return 200, {"data": found, "meta": {}}
