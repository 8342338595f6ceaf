"""A controllable fake of PlacetoPay WebCheckout on 127.0.0.1, for the app servers under test.

Written from ../shared/docs/placetopay.md only (nothing of ``gaspay`` is imported):

- ``POST /api/session``: checks the ``auth`` object (login known, ``tranKey`` =
  Base64(SHA-256(rawNonce + seed + secretKey)), nonce never reused), answers ``status`` OK/PC,
  ``requestId`` (an integer) and ``processUrl``;
- ``POST /api/session/<requestId>`` (``{auth}``): the session ``status`` and ``payment[]`` with
  the transaction once the payer has tried (PSE: ``authorization`` is the CUS, ``issuerName``
  the bank, ``amount.from.total`` a string like the SDK fixture).

Each step (``create``, ``query``) has a fault switch like fake_wompi.py's: ``timeout``, ``500``,
``garbage``, ``close``. A fault on ``create`` records the session first unless ``store=False``;
such a session was never answered, so nobody has its ``processUrl`` and nothing can be paid on
it (``reachable`` False): it expires at PlacetoPay. The test plays the payer with ``decide`` and
PlacetoPay's notifier with ``notification`` (``sha256:`` + hex(SHA-256(requestId + status +
date + secretKey)), or the legacy bare SHA-1 hex).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STEPS = ("create", "query")
FAULTS = ("timeout", "500", "garbage", "close")
FINAL = ("APPROVED", "REJECTED")
# The session's word in the audit's vocabulary (portal.TRUTH).
AUDIT_WORD = {"PENDING": "PENDING", "APPROVED": "APPROVED", "REJECTED": "DECLINED"}
BANK = "BANCO UNION COLOMBIANO"


@dataclass(frozen=True)
class Site:
    slug: str
    login: str
    secret_key: str


def p2p_date() -> str:
    """ISO 8601 with the Bogotá offset, as PlacetoPay writes dates."""
    return time.strftime("%Y-%m-%dT%H:%M:%S-05:00", time.gmtime(time.time() - 5 * 3600))


def sign(request_id: int, status: str, date: str, secret_key: str, algorithm: str) -> str:
    """docs/placetopay.md: ``sha256:`` + hex(SHA-256(requestId + status.status + status.date +
    secretKey)); legacy: bare hex SHA-1 of the same text."""
    text = f"{request_id}{status}{date}{secret_key}".encode()
    if algorithm == "sha256":
        return "sha256:" + hashlib.sha256(text).hexdigest()
    return hashlib.sha1(text).hexdigest()  # noqa: S324 - the legacy form


@dataclass
class Session:
    id: str  # requestId as text (the attempt stores it so)
    merchant: str  # the site's slug
    reference: str
    total: str
    currency: str
    description: str
    return_url: str
    reachable: bool = True  # False: the create's answer never reached the portal
    state: str = "PENDING"
    date: str = field(default_factory=p2p_date)
    payments: list = field(default_factory=list)

    @property
    def status(self) -> str:  # what World.audit reads
        return AUDIT_WORD[self.state]

    def status_object(self) -> dict:
        reason = {"PENDING": "PT", "APPROVED": "00", "REJECTED": "?C"}[self.state]
        message = {
            "PENDING": "La petición se encuentra activa",
            "APPROVED": "La petición ha sido aprobada exitosamente",
            "REJECTED": "El proceso de pago ha sido cancelado por el usuario",
        }[self.state]
        return {"status": self.state, "reason": reason, "message": message, "date": self.date}

    def as_json(self, process_url: str) -> dict:
        return {
            "requestId": int(self.id),
            "status": self.status_object(),
            "request": {
                "locale": "es_CO",
                "payment": {
                    "reference": self.reference,
                    "description": self.description,
                    "amount": {"currency": self.currency, "total": self.total},
                    "allowPartial": False,
                },
                "returnUrl": self.return_url,
                "fields": [{"keyword": "_processUrl_", "value": process_url, "displayOn": "none"}],
            },
            "payment": [dict(p) for p in self.payments] or None,
            "subscription": None,
        }


class FakePlacetoPay:
    def __init__(self, sites: list[Site], *, timeout_sleep: float):
        self.sites = {s.login: s for s in sites}
        self.timeout_sleep = timeout_sleep
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(5001)
        self.reset()

    # -- control ---------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.faults: dict[str, tuple[str, bool]] = {}
            self.txns: dict[str, Session] = {}
            self.calls: Counter[str] = Counter()
            self.faulted: Counter[str] = Counter()
            self.rejected_auth = 0
            self.nonces: set[str] = set()
            self.on_status: Callable[[str], None] | None = None
            self.on_request: Callable[[str], None] | None = None

    def set_fault(self, step: str, fault: str, *, store: bool = True) -> None:
        assert step in STEPS and fault in FAULTS, (step, fault)
        with self.lock:
            self.faults[step] = (fault, store)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def decide(self, request_id: str, state: str) -> None:
        """The payer on PlacetoPay's page paid with PSE: approved, or rejected at the bank."""
        assert state in FINAL
        with self.lock:
            s = self.txns[request_id]
            assert s.reachable, "nobody has this session's processUrl"
            s.state, s.date = state, p2p_date()
            internal = 1519000000 + int(s.id)
            s.payments.insert(
                0,
                {
                    "status": {
                        "status": state,
                        "reason": "00" if state == "APPROVED" else "?C",
                        "message": "Aprobada" if state == "APPROVED" else "Rechazada",
                        "date": s.date,
                    },
                    "internalReference": internal,
                    "paymentMethod": "pse",
                    "paymentMethodName": "Cuentas débito ahorro y corriente (PSE)",
                    "issuerName": BANK,
                    "amount": {
                        "from": {"currency": s.currency, "total": s.total},
                        "to": {"currency": s.currency, "total": s.total},
                        "factor": 1,
                    },
                    "authorization": f"24{internal}",
                    "reference": s.reference,
                    "receipt": str(internal),
                    "franchise": "_PSE_",
                    "refunded": False,
                    "processorFields": [{"keyword": "trazabilyCode", "value": f"24{internal}"}],
                },
            )

    def expire_unreachable(self) -> None:
        """Time passes at PlacetoPay: a session nobody could open expires unpaid."""
        with self.lock:
            for s in self.txns.values():
                if not s.reachable and s.state == "PENDING":
                    s.state, s.date = "REJECTED", p2p_date()

    def notification(self, request_id: str, algorithm: str = "sha256") -> dict:
        """The signed body PlacetoPay posts when the session reaches a final status."""
        with self.lock:
            s = self.txns[request_id]
            site = next(x for x in self.sites.values() if x.slug == s.merchant)
            status = s.status_object()
        signature = sign(int(s.id), status["status"], status["date"], site.secret_key, algorithm)
        return {
            "status": status,
            "requestId": int(s.id),
            "reference": s.reference,
            "signature": signature,
        }

    def transactions(self) -> list[Session]:
        with self.lock:
            return list(self.txns.values())

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def pay_url_prefix(self) -> str:
        return self.url + "/session/"

    @staticmethod
    def txn_id_of(process_url: str) -> str:
        return process_url.split("/session/", 1)[1].split("/")[0]

    # -- server ----------------------------------------------------------------------------

    def start(self) -> FakePlacetoPay:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                fake._handle(self)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request, client_address):
                pass

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

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if path == "/api/session":
            step, request_id = "create", None
        elif path.startswith("/api/session/") and path.count("/") == 3:
            step, request_id = "query", path.rsplit("/", 1)[1]
        else:
            self._send(h, 404, self._failed("NA", "Page not found"))
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
        if not (h.headers.get("Content-Type") or "").startswith("application/json"):
            self._send(h, 401, self._failed(401, "Authentication failed 100"))
            return
        try:
            data = json.loads(body)
            assert isinstance(data, dict)
        except (ValueError, AssertionError):
            self._send(h, 400, self._failed("BR", "Malformed request"))
            return
        site, problem = self._authenticate(data.get("auth"))
        if site is None:
            with self.lock:
                self.rejected_auth += 1
            self._send(h, 401, self._failed(401, f"Authentication failed {problem}"))
            return
        if step == "create":
            status, payload = self._create(site, data, reachable=not fault)
        else:
            status, payload = self._query(site, request_id)
        if fault:  # create, stored first: PlacetoPay has the session; we never hear
            self._fault(h, step, fault)
            return
        self._send(h, status, payload)

    def _authenticate(self, auth) -> tuple[Site | None, int]:
        if not isinstance(auth, dict):
            return None, 100
        site = self.sites.get(auth.get("login"))
        if site is None:
            return None, 101
        nonce, seed, key = auth.get("nonce"), auth.get("seed"), auth.get("tranKey")
        if not all(isinstance(v, str) and v for v in (nonce, seed, key)) or len(seed) > 35:
            return None, 107
        try:
            raw = base64.b64decode(nonce, validate=True)
        except (binascii.Error, ValueError):
            return None, 107
        digest = hashlib.sha256(raw + seed.encode() + site.secret_key.encode()).digest()
        if base64.b64encode(digest).decode() != key:
            return None, 102
        with self.lock:
            if nonce in self.nonces:
                return None, 102  # a nonce is never reused
            self.nonces.add(nonce)
        return site, 0

    def _create(self, site: Site, data: dict, *, reachable: bool) -> tuple[int, dict]:
        payment = data.get("payment") or {}
        amount = payment.get("amount") or {}
        reference = payment.get("reference")
        missing = [
            name
            for name, value in (
                ("payment.reference", reference),
                ("payment.description", payment.get("description")),
                ("payment.amount.total", amount.get("total")),
                ("payment.amount.currency", amount.get("currency")),
                ("returnUrl", data.get("returnUrl")),
                ("ipAddress", data.get("ipAddress")),
                ("userAgent", data.get("userAgent")),
            )
            if value in (None, "")
        ]
        if missing or not isinstance(reference, str) or len(reference) > 32:
            return 400, self._failed("BR", f"Datos inválidos: {', '.join(missing) or 'reference'}")
        with self.lock:
            request_id = str(next(self._ids))
            self.txns[request_id] = Session(
                id=request_id,
                merchant=site.slug,
                reference=reference,
                total=f"{amount['total']:.2f}"
                if isinstance(amount["total"], int | float)
                else str(amount["total"]),
                currency=amount["currency"],
                description=payment["description"],
                return_url=data["returnUrl"],
                reachable=reachable,
            )
        return 200, {
            "status": {
                "status": "OK",
                "reason": "PC",
                "message": "La petición se ha procesado correctamente",
                "date": p2p_date(),
            },
            "requestId": int(request_id),
            "processUrl": f"{self.url}/session/{request_id}/cc9b8690b1f7228c78b759ce27d7e80a",
        }

    def _query(self, site: Site, request_id: str) -> tuple[int, dict]:
        with self.lock:
            hook = self.on_status
        if hook is not None:
            hook(request_id)
        with self.lock:
            s = self.txns.get(request_id)
            if s is None or s.merchant != site.slug:
                return 404, self._failed("request_not_valid", "La petición no existe")
            return 200, s.as_json(f"{self.url}/session/{s.id}/x")

    @staticmethod
    def _failed(reason, message: str) -> dict:
        return {"status": {"status": "FAILED", "reason": reason, "message": message}}

    def _fault(self, h: BaseHTTPRequestHandler, step: str, fault: str) -> None:
        with self.lock:
            self.faulted[step] += 1
        if fault == "timeout":
            time.sleep(self.timeout_sleep)
            self._send(h, 200, {"status": {"status": "OK", "reason": "PC", "late": True}})
        elif fault == "500":
            self._send(h, 500, self._failed("ERR", "Internal Server Error"))
        elif fault == "garbage":
            self._send_raw(h, 200, b"<html>Service Unavailable</html>{{{", "application/json")
        else:
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
            pass
