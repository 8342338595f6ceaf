"""Data for the HTTP benchmark: generated bills, pending attempts with signed events, a customer.

Bills and attempts are generated set-wise inside the database (``INSERT … SELECT`` over
``generate_series`` on PostgreSQL, a recursive CTE on SQLite) from one formula, so both engines
hold the same rows and a million bills load in seconds. This is a loader for the HTTP figures
only; the project's importer is measured by ``bench/import_bills.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "gaspay" / "migrations"
SEED = 20261122
BILL_COLUMNS = (
    "id",
    "tenant",
    "client_number",
    "client_display",
    "payment_reference",
    "bill_number",
    "concept",
    "holder_first_name",
    "holder_last_name",
    "email",
    "phone",
    "amount_cents",
    "vat_cents",
    "currency",
    "period",
    "issued_on",
    "due_on",
    "state",
    "paid_at",
    "created_at",
    "updated_at",
)
FIRST_NAMES = (
    "José", "María", "Andrés", "Sofía", "Julián", "Camila", "Óscar", "Lucía", "Sebastián",
    "Valentina", "Martín", "Ángela", "Hernán", "Inés", "Ramón", "Mónica", "Jesús", "Verónica",
)  # fmt: skip
LAST_NAMES = (
    "Pérez Gómez", "Rodríguez", "Martínez Ruiz", "Hernández", "López", "García Márquez",
    "Muñoz", "Rincón", "Peña", "Ibáñez", "Suárez", "Díaz Ortiz", "Álvarez", "Zúñiga",
)  # fmt: skip
CONCEPTS = ("Factura del Gas", "Financiación acometida", "Revisión periódica", "Reconexión")
CLIENT_BASE = 20_000
CLIENT_STRIDE = 7919  # prime: row i -> client (i * stride) % clients scatters the 2-bill clients
EVENT_CLIENT_BASE = 9_000_000
EVENT_BILL_BASE = 40_000_000
CUSTOMER_EMAIL = "bench.cliente@interservicios.test"
CUSTOMER_PASSWORD = "bench-clave-segura-2026"  # a generated bench database only
CUSTOMER_CLIENTS = ("0100245", "0100246")


def clients_for(rows: int) -> int:
    """About four bills for every three clients, as in the import benchmark's file."""
    return max(1, rows * 3 // 4)


def client_of(i: int, rows: int) -> int:
    return CLIENT_BASE + (i * CLIENT_STRIDE) % clients_for(rows)


def mix(i: int) -> int:
    """The pseudo-random value of row i; the SQL below computes the same (Knuth's hash)."""
    return (i * 2654435761) % 4294967296


def lookup_numbers(rows: int, count: int, seed: int = SEED) -> list[str]:
    """Client numbers that exist in a database of ``rows`` bills, as printed (leading zeros)."""
    rng = random.Random(seed + rows)
    picked = sorted({client_of(rng.randrange(1, rows + 1), rows) for _ in range(count * 2)})
    rng.shuffle(picked)
    return [f"{n:07d}" for n in picked[:count]]


# --- set-wise generation in SQL (the same values on both engines) ----------------------------


class Dialect:
    """The few spellings that differ between PostgreSQL and SQLite."""

    def __init__(self, url: str):
        self.pg = not url.startswith("sqlite")

    def series(self) -> tuple[str, str]:
        """(WITH prefix, FROM source) of the integers :first .. :last as column i."""
        if self.pg:
            return "", "generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS s(i)"
        prefix = (
            "WITH RECURSIVE s(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM s WHERE i < :last) "
        )
        return prefix, "s"

    def pad(self, expr: str, width: int) -> str:
        if self.pg:
            return f"lpad(CAST({expr} AS text), {width}, '0')"
        return f"printf('%0{width}d', {expr})"

    def day(self, offset_expr: str) -> str:
        """:today plus ``offset_expr`` days, as a date."""
        if self.pg:
            return f"(CAST(:today AS date) + CAST({offset_expr} AS integer))"
        return f"date(:today, printf('%+d days', {offset_expr}))"

    def year_month(self, date_expr: str) -> str:
        if self.pg:
            return f"to_char({date_expr}, 'YYYY-MM')"
        return f"strftime('%Y-%m', {date_expr})"

    @staticmethod
    def letters(expr: str) -> str:
        """Digits -> letters of the reference alphabet (no 0/O, 1/I), as references are."""
        out = expr
        for digit, letter in zip("0123456789", "CDEFGHJKLM", strict=True):
            out = f"replace({out}, '{digit}', '{letter}')"
        return out


def _case(expr: str, values: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN {k} THEN '{v}'" for k, v in enumerate(values))
    return f"CASE {expr} % {len(values)} {whens} END"


def bills_insert(d: Dialect) -> str:
    """Bills :first .. :last of a set of :clients clients: 5 % paid, a third overdue."""
    prefix, source = d.series()
    return (
        f"INSERT INTO bills ({', '.join(BILL_COLUMNS)}) {prefix}"
        "SELECT i, :tenant, CAST(c AS text), "
        f"{d.pad('c', 7)}, "
        f"CASE WHEN i % 2 = 0 THEN '77' || {d.pad('i', 10)} END, "
        f"'FG-' || {d.pad('c', 7)} || '-' || {d.pad('i', 8)}, "
        f"{_case('i', CONCEPTS)}, {_case('(h / 7)', FIRST_NAMES)}, "
        f"{_case('(h / 11)', LAST_NAMES)}, "
        "CASE WHEN r < 70 THEN 'cliente' || CAST(i AS text) || '@correo.test' END, "
        f"'3' || {d.pad('h % 1000000000', 9)}, "
        "pesos * 100, CASE WHEN r > 60 THEN pesos * 19 / 119 * 100 ELSE 0 END, 'COP', "
        f"{d.year_month(d.day('off - 20'))}, {d.day('off - 20')}, {d.day('off')}, "
        "CASE WHEN r < 5 THEN 'paid' ELSE 'unpaid' END, CASE WHEN r < 5 THEN :now END, "
        ":now, :now "
        "FROM (SELECT i, c, h, (h / 13) % 100 AS r, 5000 + h % 895000 AS pesos, "
        "(h / 17) % 60 - 20 AS off "
        f"FROM (SELECT i, {CLIENT_BASE} + (i * {CLIENT_STRIDE}) % :clients AS c, "
        f"(i * 2654435761) % 4294967296 AS h FROM {source}) a) b"
    )


def event_amount(k: int) -> int:
    return (5_000 + mix(k) % 895_000) * 100


def event_reference(k: int) -> str:
    return "GB" + f"{k:010d}".translate(str.maketrans("0123456789", "CDEFGHJKLM"))


def txn_id(k: int) -> str:
    return f"{k:06d}-1790000000-bench"


def attempts_inserts(d: Dialect) -> list[str]:
    """Attempts :first .. :last in ``pending``, each holding its own bill (id :base + k)."""
    prefix, source = d.series()
    amount = "(5000 + ((i * 2654435761) % 4294967296) % 895000) * 100"
    client = f"({EVENT_CLIENT_BASE} + i)"
    return [
        f"INSERT INTO bills ({', '.join(BILL_COLUMNS)}) {prefix}"
        f"SELECT :base + i, :tenant, CAST({client} AS text), {d.pad(client, 7)}, NULL, "
        f"'EV-' || CAST({client} AS text), 'Factura del Gas', 'Usuario', 'Pendiente', NULL, "
        f"'6472050', {amount}, 0, 'COP', NULL, NULL, {d.day('15')}, 'unpaid', NULL, :now, :now "
        f"FROM {source}",
        "INSERT INTO payment_attempts (id, tenant, reference, gateway, provider, gateway_txn_id, "
        "gateway_status, description, amount_cents, currency, status, created_at, updated_at, "
        f"next_check_at, checks, redirected_at, payer_email, payer_email_source) {prefix}"
        f"SELECT i, :tenant, 'GB' || {d.letters(d.pad('i', 10))}, :gateway, 'wompi', "
        f"{d.pad('i', 6)} || '-1790000000-bench', 'PENDING', "
        f"'Factura gas ' || {d.pad(client, 7)}, {amount}, 'COP', 'pending', :now, :now, "
        f":later, 0, :now, 'pagador' || CAST(i AS text) || '@correo.bench.test', 'payer' "
        f"FROM {source}",
        f"INSERT INTO attempt_bills (attempt_id, bill_id, amount_cents) {prefix}"
        f"SELECT i, :base + i, {amount} FROM {source}",
        f"INSERT INTO bill_holds (bill_id, attempt_id, tenant, created_at) {prefix}"
        f"SELECT :base + i, i, :tenant, :now FROM {source}",
    ]


def _plain_pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _sqlite_params(params: dict) -> dict:
    """Dates and datetimes as SQLAlchemy stores them in SQLite."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
            value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
        elif isinstance(value, dt.date):
            value = value.isoformat()
        out[key] = value
    return out


def run_sql(url: str, statements: list[tuple[str, dict]]) -> None:
    """Named-parameter statements in one transaction, with the engine's own driver."""
    if not url.startswith("sqlite"):
        import psycopg

        with psycopg.connect(_plain_pg(url)) as conn, conn.cursor() as cur:
            for sql, params in statements:
                pg_sql = re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", sql.replace("%", "%%"))
                cur.execute(pg_sql, params)
            for table in ("bills", "payment_attempts", "customers", "customer_clients"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
        return
    import sqlite3

    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")  # the loader only; the app sets its own
        conn.execute("PRAGMA cache_size=-262144")
        with conn:
            for sql, params in statements:
                conn.execute(sql, _sqlite_params(params))
    finally:
        conn.close()


def analyze(url: str) -> None:
    """PostgreSQL: the statistics autovacuum would gather moments after a bulk load."""
    if url.startswith("sqlite"):
        return
    import psycopg

    with psycopg.connect(_plain_pg(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# --- databases ------------------------------------------------------------------------------


def migrate(url: str) -> None:
    """The project's Alembic migrations, as tests/conftest.py runs them."""
    from flask_migrate import upgrade

    from gaspay import create_app
    from gaspay.extensions import db

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "m" * 40, "SANDBOX": True})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        db.session.remove()
        db.engine.dispose()


def load_bills(url: str, rows: int, *, tenant: str, today: dt.date, now: dt.datetime) -> float:
    started = time.perf_counter()
    params = {
        "first": 1,
        "last": rows,
        "clients": clients_for(rows),
        "tenant": tenant,
        "today": today,
        "now": now,
    }
    run_sql(url, [(bills_insert(Dialect(url)), params)])
    return time.perf_counter() - started


def load_pending_attempts(url: str, count: int, *, tenant: str, gateway: str, now) -> list:
    """``count`` attempts in ``pending``, each holding its own bill (client 9xxxxxx).

    Returns [(txn_id, reference, amount_cents)] for the events that approve them.
    """
    params = {
        "first": 1,
        "last": count,
        "base": EVENT_BILL_BASE,
        "tenant": tenant,
        "gateway": gateway,
        "today": now.date(),
        "now": now,
        "later": now + dt.timedelta(days=30),
    }
    run_sql(url, [(sql, params) for sql in attempts_inserts(Dialect(url))])
    return [(txn_id(k), event_reference(k), event_amount(k)) for k in range(1, count + 1)]


def signed_event(txn: str, reference: str, amount: int, secret: str, timestamp: int) -> tuple:
    """(checksum, body) of an authentic ``transaction.updated`` APPROVED event (Wompi's rule)."""
    transaction = {
        "id": txn,
        "created_at": "2026-11-22T15:00:00.000Z",
        "finalized_at": "2026-11-22T15:05:00.000Z",
        "amount_in_cents": amount,
        "reference": reference,
        "currency": "COP",
        "customer_email": "usuario.demo@correo.test",
        "payment_method_type": "PSE",
        "payment_method": {
            "type": "PSE",
            "extra": {"traceability_code": f"CUS{txn[:6]}", "bank_name": "BANCOLOMBIA"},
        },
        "status": "APPROVED",
        "status_message": None,
    }
    properties = ["transaction.id", "transaction.status", "transaction.amount_in_cents"]
    values = f"{txn}APPROVED{amount}"
    checksum = hashlib.sha256(f"{values}{timestamp}{secret}".encode()).hexdigest()
    body = {
        "event": "transaction.updated",
        "data": {"transaction": transaction},
        "environment": "prod",
        "signature": {"properties": properties, "checksum": checksum},
        "timestamp": timestamp,
        "sent_at": "2026-11-22T15:05:01.000Z",
    }
    return checksum, json.dumps(body, separators=(",", ":"))


def write_events(path: Path, attempts: list, secret: str) -> int:
    """One line per event: ``checksum<TAB>body``; the wrk scripts read slices of it."""
    timestamp = int(time.time())
    with path.open("w", encoding="utf-8") as fh:
        for txn, reference, amount in attempts:
            checksum, body = signed_event(txn, reference, amount, secret, timestamp)
            fh.write(f"{checksum}\t{body}\n")
    return len(attempts)


def load_customer(url: str, tenant: str, *, today: dt.date, now: dt.datetime) -> dict:
    """A customer with two client numbers and six notices on each (some paid, two overdue)."""
    from sqlalchemy import insert

    from gaspay import create_app
    from gaspay.accounts.services import create_customer, link_client
    from gaspay.billing.models import Bill
    from gaspay.extensions import db

    rows = []
    for c, display in enumerate(CUSTOMER_CLIENTS):
        for month in range(6):
            due = today + dt.timedelta(days=25 - 30 * month)
            paid = month >= 4 or (month == 3 and c == 0)
            rows.append(
                {
                    "tenant": tenant,
                    "client_number": display.lstrip("0"),
                    "client_display": display,
                    "bill_number": f"AC-{display}-{month:02d}",
                    "concept": "Aviso de cobro aseo",
                    "holder_first_name": "Ana",
                    "holder_last_name": "Rincón Peña",
                    "email": "ana.rincon@correo.test",
                    "phone": "3104567890",
                    "amount_cents": (48_000 + 1_700 * month + 900 * c) * 100,
                    "vat_cents": 0,
                    "currency": "COP",
                    "period": (due - dt.timedelta(days=20)).strftime("%Y-%m"),
                    "issued_on": due - dt.timedelta(days=20),
                    "due_on": due,
                    "state": "paid" if paid else "unpaid",
                    "paid_at": now if paid else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "m" * 40, "SANDBOX": True})
    with app.app_context():
        db.session.execute(insert(Bill), rows)
        db.session.commit()
        customer = create_customer(tenant, CUSTOMER_EMAIL, CUSTOMER_PASSWORD, "Ana Rincón Peña")
        for number in CUSTOMER_CLIENTS:
            link_client(customer, number)
        db.session.remove()
        db.engine.dispose()
    return {
        "email": CUSTOMER_EMAIL,
        "password": CUSTOMER_PASSWORD,
        "bill_numbers": [r["bill_number"] for r in rows],
    }


def _counts(url: str, sql: str) -> dict[str, int]:
    """``{label: n}`` of a ``SELECT <label columns…>, count(*) … GROUP BY …``."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(sql)).all()
    finally:
        engine.dispose()
    return {" ".join(str(v) for v in row[:-1]): row[-1] for row in rows}


def count_event_outcomes(url: str) -> dict[str, int]:
    return _counts(url, "SELECT outcome, count(*) FROM gateway_events GROUP BY outcome")


def count_outbox_messages(url: str) -> dict[str, int]:
    """The messages the events wrote in their own transactions, by kind and topic."""
    return _counts(url, "SELECT kind, topic, count(*) FROM outbox_messages GROUP BY kind, topic")
