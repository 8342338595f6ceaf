"""Driving the real servers over HTTP as payers and as Wompi's event sender; auditing the books.

``Payer`` is one browser (its own cookies) talking to one app server. ``World`` is one test's
view of everything: the servers, the fake gateway, the database (through an in-process app),
the job. ``World.audit`` compares our records with the gateway's and counts what matters:
lost payments, doubled payments, resolved attempts.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import itertools
import json
import os
import re
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from sqlalchemy import select, update

from gaspay.billing.models import PAID, Bill
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.outbox import PENDING, OutboxMessage
from gaspay.payments import inbox
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptBill, AttemptTransition, BillHold, PaymentAttempt
from gaspay.payments.services import open_attempt
from gaspay.timeutil import today_in_bogota, utcnow
from tests import fakes

HTTP_TIMEOUT = 10
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
FACTURA_RE = re.compile(r'name="factura"[^>]*value="([^"]+)"')
# The gateway's final word -> the attempt's true final state.
TRUTH = {"APPROVED": T.APPROVED, "DECLINED": T.DECLINED, "ERROR": T.FAILED, "VOIDED": T.VOIDED}
# What the payer reads on the result page, per state.
RESULT_WORDS = {
    T.CREATED: "Estamos confirmando su pago con la pasarela",
    T.PENDING: "PENDIENTE de confirmación",
    T.APPROVED: "¡Pago realizado con éxito!",
    T.DECLINED: "Su pago no fue aprobado",
    T.FAILED: "Su pago no fue aprobado",
    T.EXPIRED: "El pago no se completó a tiempo",
}
NEVER_SHOWN = ("Traceback", "Internal Server Error", "Exception", "sqlalchemy", "werkzeug")
_numbers = itertools.count(1)


def spanish_page(response: requests.Response, status: int, *phrases: str) -> str:
    """The payer got a page in Spanish with these words, the expected status, and no internals."""
    text = response.text
    assert response.status_code == status, (response.status_code, status, text[:600])
    assert 'lang="es' in text, text[:300]
    for word in NEVER_SHOWN:
        assert word not in text, f"{word!r} shown to the payer"
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in page: {text[:1500]}"
    return text


# The bank field of the PSE step: PlacetoPay's own page shows the bank list.
BANK_FIELD = {"gasnova": "P2P"}


class Payer:
    """One browser: its own cookies, one app server."""

    def __init__(self, base: str, tenant: str = "insesp"):
        self.base = base
        self.tenant = tenant
        self.http = requests.Session()
        # One connection per request: a kept-alive connection that the server closes while a
        # request is on its way is a client-side race (browsers retry it), not what we test.
        self.http.headers["Connection"] = "close"

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(
            self.base + path, timeout=HTTP_TIMEOUT, allow_redirects=False, **kwargs
        )

    def post(self, path: str, data: dict) -> requests.Response:
        return self.http.post(
            self.base + path, data=data, timeout=HTTP_TIMEOUT, allow_redirects=False
        )

    def lookup_page(self, number: str) -> requests.Response:
        """The payer types the client number in the lookup form."""
        page = self.get(f"/{self.tenant}/factura")
        csrf = CSRF_RE.search(page.text)
        assert page.status_code == 200 and csrf, page.text[:500]
        return self.post(f"/{self.tenant}/factura", {"csrf_token": csrf.group(1), "numero": number})

    def lookup(self, number: str) -> str:
        """The bill token, from the pay button's form on the lookup's answer."""
        found = self.lookup_page(number)
        token = FACTURA_RE.search(found.text)
        assert found.status_code == 200 and token, found.text[:1500]
        return token.group(1)

    def bank_step(self, token: str) -> requests.Response:
        return self.get(f"/{self.tenant}/pse/pagar", params={"factura": token})

    def pay(self, step: requests.Response, **over) -> requests.Response:
        """Submit the PSE bank step as a person paying from Bancolombia."""
        csrf = CSRF_RE.search(step.text)
        token = FACTURA_RE.search(step.text)
        assert csrf and token, step.text[:1500]
        data = {
            "csrf_token": csrf.group(1),
            "factura": token.group(1),
            "tipo_cliente": "0",
            "banco": BANK_FIELD.get(self.tenant, "1007"),
            "tipo_documento": "CC",
            "documento": "1099888777",
            "nombre": "Usuario Integridad",
            "email": "usuario.integridad@correo.test",
            "telefono": "3001234567",
            "acepta_terminos": "y",
            "acepta_datos": "y",
        }
        data.update(over)
        return self.post(f"/{self.tenant}/pse/pagar", data)

    def result(self, reference: str, txn_id: str | None = None) -> requests.Response:
        params = {"id": txn_id} if txn_id else None
        return self.get(f"/{self.tenant}/pagos/{reference}", params=params)


def post_event(
    base: str, tenant: str, body: bytes, headers: dict, provider: str = "wompi"
) -> tuple[int, str]:
    response = requests.post(
        f"{base}/{tenant}/webhooks/{provider}", data=body, headers=headers, timeout=HTTP_TIMEOUT
    )
    with response:
        outcome = ""
        if response.headers.get("Content-Type", "").startswith("application/json"):
            outcome = response.json().get("outcome", "")
        return response.status_code, outcome


def post_events_parallel(
    bases: list[str],
    tenant: str,
    copies: list[tuple[bytes, dict]],
    workers: int = 32,
    provider: str = "wompi",
) -> list[tuple[int, str]]:
    """Every copy posted at once, spread over the servers in turn."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(post_event, bases[i % len(bases)], tenant, body, headers, provider)
            for i, (body, headers) in enumerate(copies)
        ]
        return [f.result(timeout=60) for f in futures]


def signed_event(txn: dict, secret: str, timestamp: int | None = None) -> tuple[bytes, dict]:
    return fakes.event(txn, secret, timestamp=timestamp)


def p2p_notification(body: dict) -> tuple[bytes, dict]:
    """A PlacetoPay notification as posted: JSON, nothing in the headers."""
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


@dataclass(frozen=True)
class BillRef:
    id: int
    tenant: str
    client_number: str
    amount_cents: int


def fetch(query) -> list:
    """Rows read in a short transaction of their own, detached: no snapshot is kept open."""
    db.session.rollback()
    rows = list(db.session.scalars(query))
    db.session.expunge_all()
    db.session.rollback()
    return rows


@dataclass
class Ledger:
    """Our records against the gateway's, after (or during) a test."""

    attempts: int = 0
    gateway_transactions: int = 0
    lost: int = 0
    doubled: int = 0
    resolved: int = 0
    unresolved: int = 0
    wrong: int = 0
    unreachable: int = 0  # PlacetoPay sessions whose create answer never reached us, unpaid
    final_states: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def figures(self) -> dict:
        return {
            "attempts": self.attempts,
            "gateway_transactions": self.gateway_transactions,
            "lost": self.lost,
            "doubled": self.doubled,
            "resolved": self.resolved,
            "unresolved": self.unresolved,
            "wrong": self.wrong,
            "unreachable_sessions": self.unreachable,
            "final_states": self.final_states,
        }

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)
        assert (self.lost, self.doubled, self.unresolved, self.wrong) == (0, 0, 0, 0)


class World:
    """One test's handle on the servers, the fake gateway, the database and the job."""

    def __init__(self, portal, provider: str = "wompi"):
        self.portal = portal
        self.provider = provider
        self.fake = portal.p2p if provider == "placetopay" else portal.fake
        self.tenant = "gasnova" if provider == "placetopay" else "insesp"
        self.servers = portal.servers
        self.payers: list[Payer] = []
        self.workers: list[subprocess.Popen] = []

    def close(self) -> None:
        for payer in self.payers:
            payer.close()
        self.stop_workers()

    # --- the workers that apply the stored gateway notifications -------------------------------

    def start_workers(self, count: int = 2) -> None:
        """`flask --app gaspay worker` as the deployment runs it, ``count`` processes at once,
        each polling for the stored notifications (the inbox) and applying them."""
        args = ["worker", "--no-reconcile", "--kind", inbox.KIND, "--poll", "0.05"]
        for _ in range(count - len(self.workers)):
            log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop_workers)
            # O_APPEND: the worker's writes go to the end wherever this process reads from.
            fcntl.fcntl(
                log.fileno(), fcntl.F_SETFL, fcntl.fcntl(log.fileno(), fcntl.F_GETFL) | os.O_APPEND
            )
            process = subprocess.Popen(
                [self.portal.flask, "--app", "gaspay", *args],
                cwd=self.portal.root,
                env=self.portal.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
            )
            process.log = log
            process.started = False
            self.workers.append(process)
        deadline = time.monotonic() + 60
        for process in self.workers:  # each one up (its signal handlers set) before going on
            # The whole log: once a worker has applied enough, its first line is no longer in
            # the tail that worker_log shows. A worker seen started is not asked again.
            while not process.started:
                process.log.seek(0)
                process.started = " started: poll" in process.log.read()
                if process.started:
                    break
                assert process.poll() is None, self.worker_log(process)
                assert time.monotonic() < deadline, "a worker did not start within 60 s"
                time.sleep(0.05)

    def events_applied(self, timeout: float = 60) -> int:
        """Wait until the workers have applied every stored notification that is due (they are
        started if they were not); how many notifications were stored in all."""
        self.start_workers()
        due = (OutboxMessage.kind == inbox.KIND) & (OutboxMessage.status == PENDING)
        due &= OutboxMessage.failures == 0
        deadline = time.monotonic() + timeout
        while fetch(select(OutboxMessage.id).where(due)):
            assert time.monotonic() < deadline, "the workers left stored notifications unapplied"
            for process in self.workers:
                assert process.poll() is None, self.worker_log(process)
            time.sleep(0.05)
        return len(fetch(select(OutboxMessage.id).where(OutboxMessage.kind == inbox.KIND)))

    def stop_workers(self) -> None:
        """SIGTERM, as a deployment stops them: the message in hand is finished first."""
        for process in self.workers:
            process.terminate()
        for process in self.workers:
            process.wait(timeout=30)
            assert process.returncode == 0, self.worker_log(process)
            process.log.close()
        self.workers.clear()

    @staticmethod
    def worker_log(process: subprocess.Popen) -> str:
        process.log.seek(0)
        return process.log.read()[-3000:]

    def watch_transactions(self) -> bool:
        """On PostgreSQL: note every gateway call made while the portal holds a transaction."""
        probe = self.portal.probe
        if probe is None:
            return False
        probe.reset()
        self.fake.on_request = probe
        return True

    def transactions_seen(self) -> dict | None:
        probe = self.portal.probe
        if probe is None or self.fake.on_request is not probe:
            return None
        return {
            "gateway_calls": sum(probe.calls.values()),
            "inside_db_transaction": dict(probe.hits),
        }

    # -- data ----------------------------------------------------------------------------

    def bill(self, tenant: str | None = None, amount: int | None = None) -> BillRef:
        tenant = tenant or self.tenant
        n = next(_numbers)
        bill = Bill(
            tenant=tenant,
            client_number=f"{770000 + n}",
            client_display=f"0{770000 + n}",
            bill_number=f"INT-{n}",
            concept="Factura del Gas",
            holder_first_name="Usuario",
            holder_last_name="Integridad",
            email="usuario.integridad@correo.test",
            phone="3001234567",
            amount_cents=amount or 1_800_000 + n * 100,
            vat_cents=0,
            due_on=today_in_bogota() + dt.timedelta(days=10),
        )
        db.session.add(bill)
        db.session.commit()
        ref = BillRef(bill.id, bill.tenant, bill.client_number, bill.amount_cents)
        db.session.rollback()
        return ref

    def checkout_attempt(self, bill: BillRef) -> PaymentAttempt:
        """A customer's Web Checkout attempt, recorded as the checkout view records it."""
        tenant = self.portal.app.extensions["gaspay.tenants"][bill.tenant]
        open_attempt(
            tenant,
            [bill],
            gateway="wompi",
            description=f"Aviso de cobro {bill.client_number}",
            payer={
                "payer_name": "Cliente Integridad",
                "payer_email": "cliente@correo.test",
                "payer_ip": "127.0.0.1",
                "payment_method": None,
            },
        )
        return self.only_attempt(bill)

    def payer(self, server: int = 0, tenant: str | None = None) -> Payer:
        payer = Payer(self.servers[server % len(self.servers)], tenant or self.tenant)
        self.payers.append(payer)
        return payer

    def pay_to_bank(self, payer: Payer, token: str) -> str:
        """A payment with a healthy gateway: the payer is sent to the bank's URL."""
        response = payer.pay(payer.bank_step(token))
        assert response.status_code == 303, response.text[:800]
        location = response.headers["Location"]
        assert location.startswith(self.fake.pay_url_prefix), location
        return self.fake.txn_id_of(location)

    def events_secret(self, slug: str) -> str:
        return self.portal.app.extensions["gaspay.tenants"][slug].wompi.events_secret

    def server(self, i: int) -> str:
        return self.servers[i % len(self.servers)]

    # -- database --------------------------------------------------------------------------

    def attempts(self, bill: BillRef | None = None) -> list[PaymentAttempt]:
        query = select(PaymentAttempt).order_by(PaymentAttempt.id)
        if bill is not None:
            query = query.join(AttemptBill).where(AttemptBill.bill_id == bill.id)
        return fetch(query)

    def only_attempt(self, bill: BillRef | None = None) -> PaymentAttempt:
        found = self.attempts(bill)
        assert len(found) == 1, [(a.reference, a.status) for a in found]
        return found[0]

    def transitions(self, attempt_id: int | None = None) -> list[AttemptTransition]:
        query = select(AttemptTransition).order_by(AttemptTransition.id)
        if attempt_id is not None:
            query = query.where(AttemptTransition.attempt_id == attempt_id)
        return fetch(query)

    def holds(self) -> list[BillHold]:
        return fetch(select(BillHold))

    def bills(self) -> list[Bill]:
        return fetch(select(Bill).order_by(Bill.id))

    def make_due(self) -> None:
        with write_unit():
            db.session.execute(
                update(PaymentAttempt)
                .where(PaymentAttempt.status.in_(T.LIVE))
                .values(next_check_at=utcnow() - dt.timedelta(minutes=1))
                .execution_options(synchronize_session=False)
            )
        db.session.rollback()

    def age_unknown_creations(self) -> int:
        """Time passes for attempts the gateway has no transaction for (nothing was charged)."""
        # A PlacetoPay session whose create answer never arrived is unknown to us for good.
        known = {
            (t.merchant, t.reference)
            for t in self.fake.transactions()
            if getattr(t, "reachable", True)
        }
        stale = [
            a.id
            for a in self.attempts()
            if a.status in T.LIVE and (a.tenant, a.reference) not in known
        ]
        if stale:
            with write_unit():
                db.session.execute(
                    update(PaymentAttempt)
                    .where(PaymentAttempt.id.in_(stale))
                    .values(created_at=utcnow() - dt.timedelta(hours=2))
                    .execution_options(synchronize_session=False)
                )
            db.session.rollback()
        return len(stale)

    def assert_next_check_scheduled(self) -> None:
        """No live attempt is left without a next check (a lost notification is not retried)."""
        horizon = (utcnow() + dt.timedelta(hours=2)).replace(tzinfo=None)
        for attempt in self.attempts():
            if attempt.status in T.LIVE:
                assert attempt.next_check_at is not None, attempt.reference
                assert attempt.next_check_at.replace(tzinfo=None) <= horizon, (
                    attempt.reference,
                    attempt.next_check_at,
                )

    def assert_nothing_guessed(self) -> None:
        """While the gateway is unreachable nothing is final, nothing is paid."""
        for attempt in self.attempts():
            assert attempt.status in T.LIVE, (attempt.reference, attempt.status)
        for move in self.transitions():
            assert move.to_status not in T.FINAL, (move.attempt_id, move.to_status)
        paid = fetch(select(Bill).where(Bill.state == PAID))
        assert paid == [], [b.bill_number for b in paid]

    # -- the job ---------------------------------------------------------------------------

    def job(self) -> dict[str, int]:
        """`flask payments reconcile`, in this process (the command itself, through click)."""
        db.session.rollback()
        result = self.portal.app.test_cli_runner().invoke(args=["payments", "reconcile"])
        db.session.rollback()
        assert result.exit_code == 0, (result.output, result.exception)
        return parse_job_output(result.output)

    def job_process(self, **settings) -> subprocess.Popen:
        """`flask --app gaspay payments reconcile` as its own process, as cron runs it."""
        env = {**self.portal.env, **{f"GASPAY_{k}": str(v) for k, v in settings.items()}}
        return subprocess.Popen(
            [self.portal.flask, "--app", "gaspay", "payments", "reconcile"],
            cwd=self.portal.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def settle(self) -> dict[str, int]:
        """The fault has cleared: time passes, every live attempt is due, the job runs."""
        self.fake.clear_faults()
        self.assert_next_check_scheduled()
        self.age_unknown_creations()
        self.make_due()
        report = self.job()
        assert report["unavailable"] == 0, report
        return report

    # -- books -----------------------------------------------------------------------------

    def audit(self) -> Ledger:
        attempts = self.attempts()
        db.session.rollback()
        links = db.session.execute(select(AttemptBill.attempt_id, AttemptBill.bill_id)).all()
        bills = {b.id: b for b in fetch(select(Bill))}
        moves = self.transitions()
        txns = self.fake.transactions()
        ledger = Ledger(attempts=len(attempts), gateway_transactions=len(txns))
        bills_of: dict[int, set[int]] = defaultdict(set)
        for attempt_id, bill_id in links:
            bills_of[attempt_id].add(bill_id)
        by_txn = {(a.tenant, a.gateway_txn_id): a for a in attempts if a.gateway_txn_id}
        by_ref: dict[tuple[str, str], list[PaymentAttempt]] = defaultdict(list)
        for a in attempts:
            by_ref[(a.tenant, a.reference)].append(a)
        txn_of = {(t.merchant, t.id): t for t in txns}

        # Lost: the gateway has a transaction we have no row for, or approved one we do not show
        # as approved.
        approved_at_gateway: Counter[int] = Counter()
        for t in txns:
            attempt = by_txn.get((t.merchant, t.id))
            if attempt is None and not getattr(t, "reachable", True) and t.status != "APPROVED":
                ledger.unreachable += 1  # never answered to us: nobody could pay on it
            elif attempt is None:
                ledger.lost += 1
                ledger.problems.append(f"gateway {t.id} ({t.status}, {t.reference}): no attempt")
            elif t.status == "APPROVED" and attempt.status != T.APPROVED:
                ledger.lost += 1
                ledger.problems.append(f"gateway approved {t.id}, ours {attempt.status}")
            if t.status == "APPROVED":
                for a in by_ref.get((t.merchant, t.reference), []):
                    for bill_id in bills_of[a.id]:
                        approved_at_gateway[bill_id] += 1

        # Doubled: a bill with two approved attempts, or two approved gateway transactions.
        approved_here: Counter[int] = Counter()
        for a in attempts:
            if a.status == T.APPROVED:
                for bill_id in bills_of[a.id]:
                    approved_here[bill_id] += 1
        for bill_id in set(approved_here) | set(approved_at_gateway):
            extra = max(approved_here[bill_id], approved_at_gateway[bill_id]) - 1
            if extra > 0:
                ledger.doubled += extra
                ledger.problems.append(f"bill {bill_id} paid {extra + 1} times")
        for bill_id, bill in bills.items():
            if (bill.state == PAID) != (approved_here[bill_id] == 1):
                ledger.problems.append(
                    f"bill {bill_id} is {bill.state} with "
                    f"{approved_here[bill_id]} approved attempts"
                )

        # Each attempt against the gateway's truth; its audit trail one clean chain.
        states: Counter[str] = Counter()
        for a in attempts:
            txn = txn_of.get((a.tenant, a.gateway_txn_id)) if a.gateway_txn_id else None
            if txn is not None:
                truth = TRUTH.get(txn.status, T.PENDING)
            elif any(
                t.merchant == a.tenant and t.reference == a.reference and getattr(t, "reachable", 1)
                for t in txns
            ):
                truth = "bound to nothing"  # the unbound transaction is counted as lost
            else:
                truth = T.EXPIRED  # the gateway never had it: nothing was charged
            states[a.status] += 1
            if a.status not in T.FINAL:
                ledger.unresolved += 1
                ledger.problems.append(f"{a.reference} still {a.status} (truth {truth})")
            elif a.status == truth:
                ledger.resolved += 1
            else:
                ledger.wrong += 1
                ledger.problems.append(f"{a.reference} is {a.status}, gateway says {truth}")
            chain = [m for m in moves if m.attempt_id == a.id]
            current = T.CREATED
            for m in chain:
                if m.from_status != current:
                    ledger.problems.append(
                        f"{a.reference}: {m.from_status}->{m.to_status} after {current}"
                    )
                current = m.to_status
            if current != a.status:
                ledger.problems.append(f"{a.reference}: trail ends {current}, row {a.status}")
            into_final = [m for m in chain if m.to_status in T.FINAL]
            if a.status in T.FINAL and len(into_final) != 1:
                ledger.problems.append(f"{a.reference}: {len(into_final)} final transitions")
        ledger.final_states = dict(sorted(states.items()))
        return ledger


def parse_job_output(output: str) -> dict[str, int]:
    line = [x for x in output.splitlines() if x.startswith("due=")]
    assert line, output
    return {k: int(v) for k, v in (part.split("=") for part in line[-1].split())}


def location_path(response: requests.Response) -> str:
    """The path of a redirect (relative or absolute Location)."""
    location = response.headers["Location"]
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")
