"""Loading a utility's bills from CSV: validate the whole file, then upsert it in one transaction.

The file is read twice as a stream (never held in memory): the first pass validates every line
and reports errors with line numbers; the second writes batches of rows inside one transaction,
so a bad file (unless ``skip_invalid``) or a crash leaves nothing half imported. Rows are upserted
by (tenant, bill number); a bill already paid in the portal is never changed by a re-import.

Speed (a million bills must import in about a minute, see bench/import_bills.py): lines are read
with ``csv.reader`` and parsed into tuples without intermediate dicts, dates are parsed once per
distinct text, and batches are written below the ORM: one prepared ``INSERT … ON CONFLICT``
run with ``executemany`` on SQLite; on PostgreSQL a ``COPY`` into a temporary table followed by
one ``INSERT … SELECT … ON CONFLICT`` per batch.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import operator
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Connection

from gaspay.billing.models import PAID, UNPAID, Bill
from gaspay.billing.numbers import InvalidNumber, normalise_number
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.timeutil import utcnow

COLUMNS = (
    "bill_number",
    "client_number",
    "payment_reference",
    "concept",
    "first_name",
    "last_name",
    "email",
    "phone",
    "amount",
    "vat",
    "currency",
    "period",
    "issued_on",
    "due_on",
    "state",
)
REQUIRED = ("bill_number", "client_number", "concept", "first_name", "amount", "due_on")
# The Bill columns a CSV line sets, in the order of the tuples built by _parse().
FIELDS = (
    "tenant",
    "bill_number",
    "client_number",
    "client_display",
    "payment_reference",
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
)
AMOUNT_RE = re.compile(r"^(\d{1,13})(?:\.(\d{1,2}))?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STATES = {"unpaid": UNPAID, "paid": PAID, "no pagado": UNPAID, "pagado": PAID, "": UNPAID}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
BATCH = 10_000
MAX_REPORTED = 50
_ZERO = ("", "0")  # an empty vat is 0
_REQUIRED_AT = tuple((COLUMNS.index(name), name) for name in REQUIRED)


class ImportError_(Exception):
    """The file cannot be imported; ``report`` says why, line by line."""

    def __init__(self, report: ImportReport):
        super().__init__(report.summary())
        self.report = report


@dataclass
class ImportReport:
    path: str
    rows: int = 0
    written: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)

    def add_error(self, line: int, message: str) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(f"línea {line}: {message}")

    def summary(self) -> str:
        text = f"{self.path}: {self.rows} filas, {self.written} escritas, {self.invalid} inválidas"
        more = self.invalid - len(self.errors)
        lines = [text, *self.errors]
        if more > 0:
            lines.append(f"... y {more} errores más")
        return "\n".join(lines)


def parse_amount(text: str, column: str) -> int:
    """Pesos as written in the file (``18000``, ``18000.5``) -> integer cents."""
    match = AMOUNT_RE.match(text.strip())
    if match is None:
        raise ValueError(f"'{column}' debe ser un valor en pesos como 18000 o 18000.50")
    pesos, cents = match.groups()
    return int(pesos) * 100 + (int(cents.ljust(2, "0")) if cents else 0)


@functools.lru_cache(maxsize=4096)
def _date(text: str) -> dt.date | None:
    # A file has few distinct dates: strptime (slow) runs once per distinct text.
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def parse_date(text: str, column: str) -> dt.date:
    value = _date(text.strip())
    if value is None:
        raise ValueError(f"'{column}' debe ser una fecha AAAA-MM-DD o DD/MM/AAAA")
    return value


def _parse(tenant: str, raw: Sequence[str]) -> tuple:
    """The fields of one line, in COLUMNS order -> the values of a Bill row, in FIELDS order."""
    (
        bill_number,
        client_number,
        payment_reference,
        concept,
        first_name,
        last_name,
        email,
        phone,
        amount_text,
        vat_text,
        currency,
        period,
        issued_on,
        due_on,
        state_text,
    ) = values = tuple(map(str.strip, raw))
    if not (bill_number and client_number and concept and first_name and amount_text and due_on):
        missing = [name for i, name in _REQUIRED_AT if not values[i]]
        raise ValueError("faltan columnas obligatorias: " + ", ".join(missing))
    try:
        client = normalise_number(client_number)
        reference = normalise_number(payment_reference) if payment_reference else None
    except InvalidNumber as exc:
        raise ValueError(f"número de cliente o referencia inválido: {exc}") from exc
    amount = parse_amount(amount_text, "amount")
    vat = 0 if vat_text in _ZERO else parse_amount(vat_text, "vat")
    if amount <= 0:
        raise ValueError("'amount' debe ser mayor que cero")
    if vat > amount:
        raise ValueError("'vat' no puede ser mayor que 'amount'")
    currency = (currency or "COP").upper()
    if currency != "COP":
        raise ValueError("'currency' debe ser COP")
    if email and not EMAIL_RE.match(email):
        raise ValueError("'email' no es un correo válido")
    state = STATES.get(state_text.lower())
    if state is None:
        raise ValueError("'state' debe ser unpaid o paid")
    if len(bill_number) > 40 or len(concept) > 120:
        raise ValueError("'bill_number' o 'concept' es demasiado largo")
    return (
        tenant,
        bill_number,
        client,
        client_number[:40],
        reference,
        concept,
        first_name[:80],
        last_name[:80],
        email or None,
        phone[:30] or None,
        amount,
        vat,
        currency,
        period[:20] or None,
        (_date(issued_on) or parse_date(issued_on, "issued_on")) if issued_on else None,
        _date(due_on) or parse_date(due_on, "due_on"),
        state,
    )


def parse_row(tenant: str, row: dict[str, str]) -> dict:
    """One CSV row -> the values of a Bill row; ValueError says what is wrong (in Spanish)."""
    return dict(zip(FIELDS, _parse(tenant, [row.get(k) or "" for k in COLUMNS]), strict=True))


def _rows(path: Path, tenant: str, report: ImportReport) -> Iterator[tuple[int, tuple | None]]:
    """(line number, values in FIELDS order, or None when the line is invalid) for each row."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None) or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            report.add_error(1, "faltan columnas en el encabezado: " + ", ".join(missing))
            return
        # As csv.DictReader: a repeated header name means its last column; blank lines are
        # skipped; a short line leaves the missing columns empty.
        where = {name: i for i, name in enumerate(header)}
        positions = [where.get(name) for name in COLUMNS]
        if None in positions:
            pick = None
        else:
            pick = operator.itemgetter(*positions)
            width = max(positions) + 1
        for row in reader:
            if not row:
                continue
            line = reader.line_num
            if pick is not None and len(row) >= width:
                raw = pick(row)
            else:
                raw = [row[i] if i is not None and i < len(row) else "" for i in positions]
            try:
                yield line, _parse(tenant, raw)
            except ValueError as exc:
                report.add_error(line, str(exc))
                yield line, None


# --- writing ----------------------------------------------------------------------------------

STAMPS = ("created_at", "updated_at", "paid_at")
KEEP = ("tenant", "bill_number", "created_at")  # never changed by an upsert
_INSERTED = FIELDS + STAMPS
_INSERTED_LIST = ", ".join(_INSERTED)
_FIELD_LIST = ", ".join(FIELDS)
_UPDATED = ", ".join(f"{c} = excluded.{c}" for c in _INSERTED if c not in KEEP)
_STATE = FIELDS.index("state")


class _SQLiteWriter:
    """One prepared INSERT … ON CONFLICT, executemany'd with plain tuples.

    The page cache is raised to 32 MiB for the import (the default 2 MiB makes SQLite spill and
    re-read index pages: 3x slower at a million rows), then restored: the connection is pooled.
    """

    CACHE_KIB = 32 * 1024

    SQL = (
        f"INSERT INTO bills ({_INSERTED_LIST}) "  # noqa: S608 - the fixed names of this module
        f"VALUES ({', '.join('?' * len(_INSERTED))}) "
        f"ON CONFLICT (tenant, bill_number) DO UPDATE SET {_UPDATED} "
        f"WHERE bills.state != '{PAID}'"
    )

    def __init__(self, conn: Connection):
        self.conn = conn
        dialect = conn.dialect
        table = Bill.__table__
        # Values as SQLAlchemy's SQLite types would store them (dates are ISO text).
        self.date = functools.lru_cache(maxsize=4096)(
            table.c.due_on.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
        )
        self.stamp = table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect) or (
            lambda v: v
        )
        self.issued = FIELDS.index("issued_on")
        self.raw = conn.connection.driver_connection
        self.saved_cache = None
        cache = self.raw.execute("PRAGMA cache_size").fetchone()[0]
        page = self.raw.execute("PRAGMA page_size").fetchone()[0]
        if (-cache if cache < 0 else cache * page // 1024) < self.CACHE_KIB:
            self.saved_cache = int(cache)
            self.raw.execute(f"PRAGMA cache_size = -{self.CACHE_KIB}")

    def write(self, batch: Sequence[tuple]) -> None:
        now = self.stamp(utcnow())
        paid = (now, now, now)
        unpaid = (now, now, None)
        date, i = self.date, self.issued
        params = [
            (
                *row[:i],
                date(row[i]),
                date(row[i + 1]),
                row[i + 2],
                *(paid if row[_STATE] == PAID else unpaid),
            )
            for row in batch
        ]
        self.conn.exec_driver_sql(self.SQL, params)

    def close(self) -> None:
        if self.saved_cache is not None:
            with contextlib.suppress(sqlite3.Error):  # a broken connection is discarded anyway
                self.raw.execute(f"PRAGMA cache_size = {self.saved_cache}")


class _PostgresWriter:
    """COPY each batch into a temporary table, then one INSERT … SELECT … ON CONFLICT."""

    TABLE = "gaspay_import_bills"
    CREATE = (
        f"CREATE TEMPORARY TABLE {TABLE} ON COMMIT DROP AS "  # noqa: S608 - fixed names
        f"SELECT 0 AS seq, {_FIELD_LIST} FROM bills WITH NO DATA"
    )
    COPY = f"COPY {TABLE} (seq, {_FIELD_LIST}) FROM STDIN"
    INSERT = (
        f"INSERT INTO bills ({_INSERTED_LIST}) "  # noqa: S608 - the fixed names of this module
        f"SELECT {_FIELD_LIST}, %(now)s, %(now)s, "
        f"CASE WHEN state = '{PAID}' THEN %(now)s::timestamptz END "
        f"FROM {TABLE} ORDER BY seq "
        f"ON CONFLICT (tenant, bill_number) DO UPDATE SET {_UPDATED} "
        f"WHERE bills.state <> '{PAID}'"
    )

    def __init__(self, conn: Connection):
        self.conn = conn
        self.raw = conn.connection.driver_connection
        conn.exec_driver_sql(self.CREATE)

    def write(self, batch: Sequence[tuple]) -> None:
        with self.raw.cursor() as cursor, cursor.copy(self.COPY) as copy:
            for seq, row in enumerate(batch):
                copy.write_row((seq, *row))
        self.conn.exec_driver_sql(self.INSERT, {"now": utcnow()})
        self.conn.exec_driver_sql(f"TRUNCATE {self.TABLE}")

    def close(self) -> None:
        pass  # ON COMMIT DROP (and a rollback forgets the table)


def _writer(conn: Connection):
    return _PostgresWriter(conn) if conn.dialect.name == "postgresql" else _SQLiteWriter(conn)


def import_bills(tenant: str, path: str | Path, *, skip_invalid: bool = False) -> ImportReport:
    """Validate, then write; raise ImportError_ with the report when the file is refused."""
    path = Path(path)
    report = ImportReport(path=str(path))
    for _line, _values in _rows(path, tenant, report):
        report.rows += 1
    if report.invalid and not skip_invalid:
        raise ImportError_(report)
    # Second pass: write. Errors were counted already, so count afresh only the writes.
    check = ImportReport(path=str(path))
    batch: dict[str, tuple] = {}
    with write_unit():
        writer = _writer(db.session.connection())
        try:
            for _line, values in _rows(path, tenant, check):
                if values is None:
                    continue
                batch[values[1]] = values  # a repeated bill number: the last line wins
                if len(batch) >= BATCH:
                    writer.write(list(batch.values()))
                    report.written += len(batch)
                    batch.clear()
            if batch:
                writer.write(list(batch.values()))
                report.written += len(batch)
        finally:
            writer.close()
    return report
