"""Loading a utility's bills from CSV: validate the whole file, then upsert it in short batches.

The file is read as a stream (never held in memory), twice: the first pass validates every line
and reports errors with line numbers, in Spanish (a file that is not UTF-8, a field longer than
its column, a bad amount or date: each is a message, never a traceback or a database error);
nothing is written when a line is bad, unless ``skip_invalid``. The second pass writes batches
of ``BATCH`` rows, each in a transaction of its own (``write_unit``), so that payments and
gateway events get the database between two batches (on SQLite one write transaction locks the
whole database; the importer also pauses briefly after each commit there so that a writer
waiting in SQLite's busy handler gets its turn). Rows are upserted by (tenant, bill number), so
a run that stops half way leaves whole batches written and running the same file again gives
the same result.

A bill is never changed by an import while it is held by a payment (a ``bill_holds`` row: a
live attempt, or an approved one) or once it is paid; such a line is counted as ``held`` and
reported ("línea 7: factura FG-1 en proceso de pago: no se modificó"). The test is part of the
write itself (``… ON CONFLICT DO UPDATE … WHERE NOT EXISTS (SELECT 1 FROM bill_holds …)``) in
the same transaction, after the batch's bills are locked (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's write transaction is exclusive): a payment that takes a hold while the
batch is being written waits for the batch to commit, and a hold committed before is seen.

Every run is recorded in ``bill_imports`` (``BillImport``): counts, the first error and notice
lines, and ``processed_rows`` moved with every committed batch for a progress bar. The staff
area validates a stored file (``prepare_import``), shows the report, queues it once confirmed
(``queue_import``) and a worker writes it (``run_import``); the CLI does the three at once
(``import_bills``).

Speed (a million bills must import in about a minute, see bench/import_bills.py): lines are read
with ``csv.reader`` and parsed into tuples without intermediate dicts, dates are parsed once per
distinct text, and batches are written below the ORM: one prepared ``INSERT … ON CONFLICT``
run with ``executemany`` on SQLite; on PostgreSQL a ``COPY`` into a temporary table followed by
one ``INSERT … SELECT … ON CONFLICT`` per batch. A line identical to its stored bill is not
rewritten.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import hashlib
import json
import logging
import operator
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from gaspay.billing.models import (
    IMPORT_DONE,
    IMPORT_FAILED,
    IMPORT_QUEUED,
    IMPORT_RUNNING,
    IMPORT_VALIDATED,
    PAID,
    UNPAID,
    Bill,
    BillImport,
)
from gaspay.billing.numbers import InvalidNumber, normalise_number
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.formatting import money
from gaspay.timeutil import utcnow

log = logging.getLogger(__name__)

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
COMPARED = FIELDS[2:]  # what a re-import may change (tenant and bill number are the key)
# The CSV column each text field of a Bill comes from, and the column's length in the database.
SOURCE = {
    "bill_number": "bill_number",
    "client_display": "client_number",
    "client_number": "client_number",
    "payment_reference": "payment_reference",
    "concept": "concept",
    "holder_first_name": "first_name",
    "holder_last_name": "last_name",
    "email": "email",
    "phone": "phone",
    "period": "period",
}
LIMITS = {name: Bill.__table__.c[name].type.length for name in SOURCE}
_LIMITED = tuple((FIELDS.index(name), SOURCE[name], LIMITS[name]) for name in SOURCE)
AMOUNT_RE = re.compile(r"^(\d{1,13})(?:\.(\d{1,2}))?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STATES = {"unpaid": UNPAID, "paid": PAID, "no pagado": UNPAID, "pagado": PAID, "": UNPAID}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
BATCH = 5_000  # rows per write transaction
# After each commit on SQLite the importer waits as long as its batch held the database (at
# least 20 ms, at most this): a writer asleep in SQLite's busy handler polls again within that
# time (every 1 to 25 ms in its first 0.1 s of waiting, then 50 and at most 100 ms) and gets in.
SQLITE_PAUSE_SECONDS = 0.11
MAX_REPORTED = 200  # error and notice lines kept (the counts are always complete)
MAX_LINE = 100_000  # characters: a longer line is not a bills CSV line
STALE_AFTER = dt.timedelta(minutes=15)  # a running import with no progress that long is dead
_ZERO = ("", "0")  # an empty vat is 0
_REQUIRED_AT = tuple((COLUMNS.index(name), name) for name in REQUIRED)
UNREADABLE_LINE = (
    "no se puede leer como CSV: un campo tiene más de 131.072 caracteres "
    "(¿unas comillas sin cerrar?)"
)
NOT_UTF8 = (
    "El archivo no está en UTF-8 (línea {line}, byte {offset}: 0x{byte:02X}). "
    "Guárdelo como «CSV UTF-8 (delimitado por comas)» y cárguelo de nuevo."
)


class LineError(ValueError):
    """What is wrong with one line (Spanish), and the CSV column it is about when there is one."""

    def __init__(self, message: str, column: str | None = None):
        super().__init__(message)
        self.column = column


class ImportError_(Exception):
    """The file cannot be imported; ``report`` says why, line by line."""

    def __init__(self, report: ImportReport):
        super().__init__(report.summary())
        self.report = report


class ImportRefused(Exception):
    """This import cannot move to what was asked (unknown id, wrong state, invalid file)."""


@dataclass
class ImportReport:
    path: str
    rows: int = 0  # data lines read
    written: int = 0  # created + updated
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # the stored bill already said the same
    held: int = 0  # not changed: a payment holds the bill, or it is paid
    repeated: int = 0  # a later line of the same batch had the same bill number (it won)
    invalid: int = 0
    batches: int = 0  # committed
    processed: int = 0  # lines behind the committed batches
    fatal: str | None = None  # the file itself cannot be read: nothing can be imported
    import_id: int | None = None
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    error_items: list[dict] = field(default_factory=list)
    notice_items: list[dict] = field(default_factory=list)

    def add_error(self, line: int, message: str, column: str | None = None) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(f"línea {line}: {message}")
            self.error_items.append({"line": line, "field": column, "message": message})

    def refuse(self, line: int, message: str) -> None:
        """A problem with the file as a whole: reported once, and nothing is written."""
        self.fatal = message
        self.add_error(line, message)

    def add_notice(self, line: int, bill_number: str, message: str) -> None:
        if len(self.notices) < MAX_REPORTED:
            text = f"factura {bill_number} {message}"
            self.notices.append(f"línea {line}: {text}")
            self.notice_items.append({"line": line, "bill_number": bill_number, "message": text})

    @property
    def importable(self) -> bool:
        return self.fatal is None and self.invalid == 0

    def summary(self) -> str:
        text = f"{self.path}: {self.rows} filas, {self.written} escritas"
        if self.written:
            text += f" ({self.created} nuevas, {self.updated} actualizadas)"
        if self.unchanged:
            text += f", {self.unchanged} sin cambios"
        if self.held:
            text += f", {self.held} no modificadas (en proceso de pago o pagadas)"
        if self.repeated:
            text += f", {self.repeated} repetidas"
        text += f", {self.invalid} inválidas"
        lines = [text, *self.errors]
        more = self.invalid - len(self.errors)
        if more > 0:
            lines.append(f"... y {more} errores más")
        lines += self.notices
        more = self.held - len(self.notices)
        if more > 0:
            lines.append(f"... y {more} facturas más no modificadas")
        return "\n".join(lines)

    @classmethod
    def of(cls, record: BillImport) -> ImportReport:
        """The report of a recorded import (what the staff area shows)."""
        errors, notices = record.error_list, record.notice_list
        return cls(
            path=record.filename,
            rows=record.total_rows,
            written=record.created + record.updated,
            created=record.created,
            updated=record.updated,
            unchanged=record.unchanged,
            held=record.held,
            repeated=record.repeated,
            invalid=record.invalid,
            batches=record.batches,
            fatal=None if record.readable else record.message,
            import_id=record.id,
            errors=[f"línea {e['line']}: {e['message']}" for e in errors],
            notices=[f"línea {n['line']}: {n['message']}" for n in notices],
            error_items=errors,
            notice_items=notices,
        )


# --- reading ----------------------------------------------------------------------------------


def parse_amount(text: str, column: str) -> int:
    """Pesos as written in the file (``18000``, ``18000.5``) -> integer cents."""
    match = AMOUNT_RE.match(text.strip())
    if match is None:
        raise LineError(f"'{column}' debe ser un valor en pesos como 18000 o 18000.50", column)
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
        raise LineError(f"'{column}' debe ser una fecha AAAA-MM-DD o DD/MM/AAAA", column)
    return value


def _too_long(values: tuple) -> None:
    for i, column, limit in _LIMITED:
        value = values[i]
        if value is not None and len(value) > limit:
            raise LineError(
                f"'{column}' tiene {len(value)} caracteres; el máximo es {limit}", column
            )


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
        raise LineError("faltan columnas obligatorias: " + ", ".join(missing), missing[0])
    try:
        client = normalise_number(client_number)
    except InvalidNumber as exc:
        raise LineError(f"número de cliente inválido: {exc}", "client_number") from exc
    try:
        reference = normalise_number(payment_reference) if payment_reference else None
    except InvalidNumber as exc:
        raise LineError(f"referencia de pago inválida: {exc}", "payment_reference") from exc
    amount = parse_amount(amount_text, "amount")
    vat = 0 if vat_text in _ZERO else parse_amount(vat_text, "vat")
    if amount <= 0:
        raise LineError("'amount' debe ser mayor que cero", "amount")
    if vat > amount:
        raise LineError("'vat' no puede ser mayor que 'amount'", "vat")
    currency = (currency or "COP").upper()
    if currency != "COP":
        raise LineError("'currency' debe ser COP", "currency")
    if email and not EMAIL_RE.match(email):
        raise LineError("'email' no es un correo válido", "email")
    state = STATES.get(state_text.lower())
    if state is None:
        raise LineError("'state' debe ser unpaid o paid", "state")
    row = (
        tenant,
        bill_number,
        client,
        client_number,
        reference,
        concept,
        first_name,
        last_name,
        email or None,
        phone or None,
        amount,
        vat,
        currency,
        period or None,
        (_date(issued_on) or parse_date(issued_on, "issued_on")) if issued_on else None,
        _date(due_on) or parse_date(due_on, "due_on"),
        state,
    )
    # Every text within its column (one comparison each in the common case).
    if (
        len(bill_number) > 40
        or len(client_number) > 40
        or len(concept) > 120
        or len(first_name) > 80
        or len(last_name) > 80
        or len(email) > 254
        or len(phone) > 30
        or len(period) > 20
        or (reference is not None and len(reference) > 48)
    ):
        _too_long(row)
    return row


def parse_row(tenant: str, row: dict[str, str]) -> dict:
    """One CSV row -> the values of a Bill row; ValueError says what is wrong (in Spanish)."""
    return dict(zip(FIELDS, _parse(tenant, [row.get(k) or "" for k in COLUMNS]), strict=True))


class _FileRefused(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


class _Lines:
    """The file's lines, none longer than MAX_LINE (memory stays bounded on any input), noting
    the last one with a NUL character (PostgreSQL cannot store it in text)."""

    def __init__(self, fh):
        self.fh = fh
        self.number = 0
        self.nul_at = 0

    def __iter__(self) -> Iterator[str]:
        readline = self.fh.readline
        while True:
            line = readline(MAX_LINE)
            if not line:
                return
            self.number += 1
            if len(line) == MAX_LINE and not line.endswith(("\n", "\r")):
                limit = f"{MAX_LINE:,}".replace(",", ".")
                raise _FileRefused(
                    self.number,
                    f"la línea tiene más de {limit} caracteres: no es un CSV de facturas",
                )
            if "\x00" in line:
                self.nul_at = self.number
            yield line


def _locate_non_utf8(path: Path) -> tuple[int, int, int]:
    """(line, byte offset in the file, the byte) of the first text that is not UTF-8."""
    offset = 0
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, offset + exc.start, raw[exc.start]
            offset += len(raw)
    return number, offset, 0  # pragma: no cover - only called after a decoding error


def _rows(path: Path, tenant: str, report: ImportReport) -> Iterator[tuple[int, tuple | None]]:
    """(line number, values in FIELDS order, or None when the line is invalid) for each row.

    A file-level problem (not UTF-8, no header, an endless line) is recorded with
    ``report.refuse`` and ends the rows."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        physical = _Lines(fh)
        reader = csv.reader(physical)
        try:
            header = next(reader, None) or []
        except UnicodeDecodeError:
            line, offset, byte = _locate_non_utf8(path)
            report.refuse(line, NOT_UTF8.format(line=line, offset=offset, byte=byte))
            return
        except _FileRefused as exc:
            report.refuse(1, str(exc))
            return
        except csv.Error:
            report.refuse(1, "el encabezado no se puede leer como CSV")
            return
        header = [name.strip() for name in header]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            report.refuse(1, "faltan columnas en el encabezado: " + ", ".join(missing))
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
        while True:
            after = reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                line, offset, byte = _locate_non_utf8(path)
                report.refuse(line, NOT_UTF8.format(line=line, offset=offset, byte=byte))
                return
            except _FileRefused as exc:
                report.refuse(exc.line, str(exc))
                return
            except csv.Error:  # a field over csv's limit (131,072): this line only
                report.add_error(reader.line_num, UNREADABLE_LINE)
                yield reader.line_num, None
                continue
            if not row:
                continue
            line = reader.line_num
            if physical.nul_at > after:
                report.add_error(line, "la línea contiene un carácter nulo (0x00)")
                yield line, None
                continue
            if pick is not None and len(row) >= width:
                raw = pick(row)
            else:
                raw = [row[i] if i is not None and i < len(row) else "" for i in positions]
            try:
                yield line, _parse(tenant, raw)
            except LineError as exc:
                report.add_error(line, str(exc), exc.column)
                yield line, None
            except ValueError as exc:  # pragma: no cover - every check raises LineError
                report.add_error(line, str(exc))
                yield line, None


def validate_file(tenant: str, path: str | Path) -> ImportReport:
    """Read and check the whole file; touches no database. ``report.importable`` says if the
    file may be written as it is (``invalid`` lines may be skipped unless ``report.fatal``)."""
    path = Path(path)
    report = ImportReport(path=str(path))
    for _line, _values in _rows(path, tenant, report):
        report.rows += 1
    return report


def file_digest(path: str | Path) -> tuple[int, str]:
    """(size in bytes, SHA-256) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


# --- writing ----------------------------------------------------------------------------------

STAMPS = ("created_at", "updated_at", "paid_at")
KEEP = ("tenant", "bill_number", "created_at")  # never changed by an upsert
_INSERTED = FIELDS + STAMPS
_INSERTED_LIST = ", ".join(_INSERTED)
_FIELD_LIST = ", ".join(FIELDS)
_UPDATED = ", ".join(f"{c} = excluded.{c}" for c in _INSERTED if c not in KEEP)
_STATE = FIELDS.index("state")
_STORED = ", ".join(f"bills.{c}" for c in COMPARED)
_INCOMING = ", ".join(f"excluded.{c}" for c in COMPARED)
# What approved payments applied to bill {b} (partial payments: an abono releases the hold).
_APPLIED = (
    "(SELECT COALESCE(SUM(ab.amount_cents), 0) FROM attempt_bills ab "
    "JOIN payment_attempts pa ON pa.id = ab.attempt_id "
    "WHERE ab.bill_id = {b}.id AND pa.status = 'approved')"
)
# Not paid, not held by any payment (live or approved), no money applied to it, and not
# already saying the same.
_FREE = (
    f"bills.state <> '{PAID}' "  # noqa: S608 - the fixed names of this module
    "AND NOT EXISTS (SELECT 1 FROM bill_holds WHERE bill_holds.bill_id = bills.id) "
    f"AND {_APPLIED.format(b='bills')} = 0 "
    f"AND ({_STORED}) {{distinct}} ({_INCOMING})"
)


_HOLDS = (
    "LEFT JOIN bill_holds h ON h.bill_id = b.id "
    "LEFT JOIN payment_attempts p ON p.id = h.attempt_id "
)


class _SQLiteWriter:
    """One prepared INSERT … ON CONFLICT, executemany'd with plain tuples.

    SQLite's write transaction (BEGIN IMMEDIATE) is exclusive: what this batch reads of its bills
    and their holds stays true until it commits. The page cache is raised to 32 MiB for the
    import (the default 2 MiB makes SQLite spill and re-read index pages: 3x slower at a million
    rows), then restored: the connection is pooled.
    """

    CACHE_KIB = 32 * 1024
    SQL = (
        f"INSERT INTO bills ({_INSERTED_LIST}) "  # noqa: S608 - the fixed names of this module
        f"VALUES ({', '.join('?' * len(_INSERTED))}) "
        f"ON CONFLICT (tenant, bill_number) DO UPDATE SET {_UPDATED} "
        f"WHERE {_FREE.format(distinct='IS NOT')}"
    )
    # The batch's bill numbers travel as one JSON parameter (no 5,000 placeholders).
    IN_BATCH = "b.tenant = ? AND b.bill_number IN (SELECT value FROM json_each(?))"
    EXISTING = f"SELECT count(*) FROM bills b WHERE {IN_BATCH}"  # noqa: S608 - fixed names
    GUARDED = (
        f"SELECT b.bill_number, b.state, p.status, {_APPLIED.format(b='b')}, "  # noqa: S608
        f"{', '.join('b.' + c for c in COMPARED)} "
        f"FROM bills b {_HOLDS}"
        f"WHERE {IN_BATCH} AND (b.state = '{PAID}' OR h.bill_id IS NOT NULL "
        f"OR {_APPLIED.format(b='b')} > 0)"
    )

    def __init__(self, conn: Connection, tenant: str, rows: Sequence[tuple]):
        self.conn = conn
        self.tenant = tenant
        dialect = conn.dialect
        table = Bill.__table__
        # Values as SQLAlchemy's SQLite types would store them (dates are ISO text).
        date = functools.lru_cache(maxsize=4096)(
            table.c.due_on.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
        )
        stamp = table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect) or (
            lambda v: v
        )
        self.raw = conn.connection.driver_connection
        self.saved_cache = None
        cache = self.raw.execute("PRAGMA cache_size").fetchone()[0]
        page = self.raw.execute("PRAGMA page_size").fetchone()[0]
        if (-cache if cache < 0 else cache * page // 1024) < self.CACHE_KIB:
            self.saved_cache = int(cache)
            self.raw.execute(f"PRAGMA cache_size = -{self.CACHE_KIB}")
        now = stamp(utcnow())
        paid = (now, now, now)
        unpaid = (now, now, None)
        i = FIELDS.index("issued_on")
        self.params = [
            (
                *row[:i],
                date(row[i]),
                date(row[i + 1]),
                row[i + 2],
                *(paid if row[_STATE] == PAID else unpaid),
            )
            for row in rows
        ]
        self.position = {row[1]: n for n, row in enumerate(rows)}
        self.numbers = json.dumps([row[1] for row in rows], ensure_ascii=False)

    def existing(self) -> int:
        return self.raw.execute(self.EXISTING, (self.tenant, self.numbers)).fetchone()[0]

    def guarded(self) -> list[tuple[int, str, str | None, int, bool]]:
        """(index in the batch, stored state, holding attempt's status, cents applied, line
        differs) for each bill of the batch that is paid, held or partly paid."""
        found = []
        end = len(FIELDS)
        for number, state, status, applied, *stored in self.raw.execute(
            self.GUARDED, (self.tenant, self.numbers)
        ):
            n = self.position[number]
            found.append((n, state, status, applied, tuple(stored) != self.params[n][2:end]))
        return found

    def write(self) -> int:
        return self.conn.exec_driver_sql(self.SQL, self.params).rowcount

    def close(self) -> None:
        if self.saved_cache is not None:
            with contextlib.suppress(sqlite3.Error):  # a broken connection is discarded anyway
                self.raw.execute(f"PRAGMA cache_size = {self.saved_cache}")


class _PostgresWriter:
    """COPY the batch into a temporary table; lock its stored bills; one INSERT … SELECT … ON
    CONFLICT.

    ``existing`` locks the batch's stored bills (``FOR UPDATE``, in id order): a payment taking
    one of their holds (its foreign-key check locks the bill ``FOR KEY SHARE``) waits for this
    commit, and this waits for a payment already taking one. The upsert, a later statement of
    READ COMMITTED, then sees every hold committed, and its own NOT EXISTS leaves those bills be.
    """

    TABLE = "gaspay_import_bills"
    CREATE = (
        f"CREATE TEMPORARY TABLE {TABLE} ON COMMIT DROP AS "  # noqa: S608 - fixed names
        f"SELECT 0 AS seq, {_FIELD_LIST} FROM bills WITH NO DATA"
    )
    COPY = f"COPY {TABLE} (seq, {_FIELD_LIST}) FROM STDIN"
    JOIN = f"{TABLE} t JOIN bills b ON b.tenant = t.tenant AND b.bill_number = t.bill_number "
    EXISTING = (
        f"SELECT count(*) FROM (SELECT 1 FROM {JOIN}"  # noqa: S608 - fixed names
        "ORDER BY b.id FOR UPDATE OF b) AS locked"
    )
    GUARDED = (
        f"SELECT t.seq, b.state, p.status, {_APPLIED.format(b='b')}, "  # noqa: S608 - fixed names
        f"({', '.join('b.' + c for c in COMPARED)}) IS DISTINCT FROM "
        f"({', '.join('t.' + c for c in COMPARED)}) "
        f"FROM {JOIN}{_HOLDS}"
        f"WHERE b.state = '{PAID}' OR h.bill_id IS NOT NULL OR {_APPLIED.format(b='b')} > 0"
    )
    INSERT = (
        f"INSERT INTO bills ({_INSERTED_LIST}) "  # noqa: S608 - the fixed names of this module
        f"SELECT {_FIELD_LIST}, %(now)s, %(now)s, "
        f"CASE WHEN state = '{PAID}' THEN %(now)s::timestamptz END "
        f"FROM {TABLE} ORDER BY seq "
        f"ON CONFLICT (tenant, bill_number) DO UPDATE SET {_UPDATED} "
        f"WHERE {_FREE.format(distinct='IS DISTINCT FROM')}"
    )

    def __init__(self, conn: Connection, tenant: str, rows: Sequence[tuple]):
        self.conn = conn
        self.raw = conn.connection.driver_connection
        # The joins below probe bills' unique index once per line of the batch. At the default
        # random_page_cost (4: a disk seek per probe) the planner read every stored bill instead,
        # per statement and per batch (at 495,000 bills 166 ms a statement against 28 ms,
        # EXPLAIN ANALYZE): quadratic in the table. For this transaction only, a probe costs
        # what it does on an SSD or in the cache.
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
        conn.exec_driver_sql(self.CREATE)
        with self.raw.cursor() as cursor, cursor.copy(self.COPY) as copy:
            for seq, row in enumerate(rows):
                copy.write_row((seq, *row))
        conn.exec_driver_sql(f"ANALYZE {self.TABLE}")  # the joins below plan on real sizes

    def existing(self) -> int:
        return self.conn.exec_driver_sql(self.EXISTING).scalar_one()

    def guarded(self) -> list[tuple[int, str, str | None, int, bool]]:
        return [tuple(row) for row in self.conn.exec_driver_sql(self.GUARDED)]

    def write(self) -> int:
        return self.conn.exec_driver_sql(self.INSERT, {"now": utcnow()}).rowcount

    def close(self) -> None:
        pass  # ON COMMIT DROP (and a rollback forgets the table)


def _writer(conn: Connection, tenant: str, rows: Sequence[tuple]):
    kind = _PostgresWriter if conn.dialect.name == "postgresql" else _SQLiteWriter
    return kind(conn, tenant, rows)


def _guarded(writer) -> list[tuple[int, str, str | None, int, bool]]:
    return writer.guarded()


def _held_message(state: str, attempt_status: str | None, applied: int, amount: int) -> str:
    from gaspay.payments.transitions import LIVE

    if attempt_status in LIVE:
        return "en proceso de pago: no se modificó"
    if state == PAID:
        return "ya pagada: no se modificó"
    if applied and attempt_status is None:
        balance = money(max(amount - applied, 0))
        return f"con abonos aplicados (saldo pendiente {balance}): no se modificó"
    return "con un pago aprobado: no se modificó"


def _stored_amount(tenant: str, bill_number: str) -> int:
    """The stored bill's amount (only read for the rare partly paid bill, to report its balance)."""
    return db.session.scalar(
        select(Bill.amount_cents).where(Bill.tenant == tenant, Bill.bill_number == bill_number)
    )


def _write_batch(tenant: str, rows: list[tuple], lines: list[int], report: ImportReport) -> None:
    """Inside a write unit: lock the batch's stored bills, note the held ones, upsert the rest.

    The hold test that protects a bill is the upsert's own ``WHERE NOT EXISTS (… bill_holds …)``;
    ``guarded`` only finds which lines to report."""
    writer = _writer(db.session.connection(), tenant, rows)
    try:
        existing = writer.existing()
        held_here = 0
        for n, state, status, applied, differs in sorted(_guarded(writer)):
            if differs:  # (a line that says what the bill says is merely unchanged)
                held_here += 1
                stored_amount = _stored_amount(tenant, rows[n][1]) if applied else 0
                message = _held_message(state, status, applied, stored_amount)
                report.add_notice(lines[n], rows[n][1], message)
        changed = writer.write()
    finally:
        writer.close()
    created = len(rows) - existing
    updated = changed - created
    report.created += created
    report.updated += updated
    report.written += changed
    report.held += held_here
    report.unchanged += existing - updated - held_here


# --- the record of each load ------------------------------------------------------------------


def _record_values(report: ImportReport, processed: int) -> dict:
    return {
        "processed_rows": processed,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "held": report.held,
        "repeated": report.repeated,
        "invalid": report.invalid,
        "batches": report.batches,
        "notices": json.dumps(report.notice_items, ensure_ascii=False),
        "updated_at": utcnow(),
    }


def get_import(tenant: str, import_id: int) -> BillImport | None:
    """One load of this company's (None for another company's id)."""
    return db.session.scalar(
        select(BillImport).where(BillImport.tenant == tenant, BillImport.id == import_id)
    )


def list_imports(tenant: str, limit: int = 50) -> list[BillImport]:
    """This company's loads, newest first."""
    return list(
        db.session.scalars(
            select(BillImport)
            .where(BillImport.tenant == tenant)
            .order_by(BillImport.created_at.desc(), BillImport.id.desc())
            .limit(limit)
        )
    )


def _prepare(
    tenant: str,
    path: str | Path,
    *,
    filename: str | None,
    created_by: str | None,
    skip_invalid: bool,
) -> tuple[BillImport, ImportReport]:
    path = Path(path).resolve()
    size, sha = file_digest(path)
    report = validate_file(tenant, path)
    report.path = filename or path.name
    with write_unit():
        record = BillImport(
            tenant=tenant,
            filename=(filename or path.name)[:255],
            path=str(path),
            file_bytes=size,
            file_sha256=sha,
            created_by=created_by,
            status=IMPORT_VALIDATED,
            skip_invalid=skip_invalid,
            readable=report.fatal is None,
            total_rows=report.rows,
            invalid=report.invalid,
            errors=json.dumps(report.error_items, ensure_ascii=False),
            message=report.fatal,
        )
        db.session.add(record)
        db.session.flush()
        report.import_id = record.id
    return record, report


def prepare_import(
    tenant: str,
    path: str | Path,
    *,
    filename: str | None = None,
    created_by: str | None = None,
    skip_invalid: bool = False,
) -> BillImport:
    """Validate a stored file and record it as ``validated``; no bill is written.

    The record holds the counts and the first ``MAX_REPORTED`` bad lines (``error_list``:
    ``{"line", "field", "message"}``, Spanish) and the file's SHA-256: the run later refuses a
    file that changed since. ``importable`` says whether it may be queued.
    """
    record, _report = _prepare(
        tenant, path, filename=filename, created_by=created_by, skip_invalid=skip_invalid
    )
    return record


def queue_import(tenant: str, import_id: int, *, skip_invalid: bool | None = None) -> BillImport:
    """Confirm a validated (or failed) load: ``queued``, for ``run_import`` on a worker.

    ``skip_invalid`` (when given) decides whether bad lines are skipped. Raises ImportRefused
    (Spanish message) for an unknown id, a load in another state, or a file that cannot be
    imported as validated."""
    with write_unit():
        record = db.session.scalar(
            select(BillImport)
            .where(BillImport.tenant == tenant, BillImport.id == import_id)
            .with_for_update()
        )
        if record is None:
            raise ImportRefused("No existe esa carga de facturas.")
        if record.status not in (IMPORT_VALIDATED, IMPORT_FAILED):
            raise ImportRefused(f"La carga {record.id} ya está {_STATUS_WORDS[record.status]}.")
        if skip_invalid is not None:
            record.skip_invalid = skip_invalid
        if not record.importable:
            if not record.readable:
                raise ImportRefused(f"El archivo no se puede importar: {record.message}")
            raise ImportRefused(
                f"El archivo tiene {record.invalid} líneas inválidas: corríjalo, o importe "
                "solo las líneas válidas."
            )
        record.status = IMPORT_QUEUED
        record.updated_at = utcnow()
    return record


_STATUS_WORDS = {
    IMPORT_VALIDATED: "validada",
    IMPORT_QUEUED: "en cola",
    IMPORT_RUNNING: "en curso",
    IMPORT_DONE: "terminada",
    IMPORT_FAILED: "fallida",
}


def _take(tenant: str, import_id: int) -> dt.datetime | None:
    """Compare-and-set to running; the start time is the run's token (None: not ours)."""
    now = utcnow()
    with write_unit():
        taken = db.session.execute(
            update(BillImport)
            .where(
                BillImport.tenant == tenant,
                BillImport.id == import_id,
                or_(
                    BillImport.status.in_((IMPORT_QUEUED, IMPORT_FAILED)),
                    (BillImport.status == IMPORT_RUNNING)
                    & (BillImport.updated_at < now - STALE_AFTER),
                ),
            )
            .values(
                status=IMPORT_RUNNING,
                started_at=now,
                finished_at=None,
                updated_at=now,
                message=None,
                **dict.fromkeys(
                    ("processed_rows", "created", "updated", "unchanged", "held", "repeated"), 0
                ),
                batches=0,
                notices="[]",
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    return now if taken == 1 else None


def _finish(import_id: int, token: dt.datetime, **values) -> None:
    with write_unit():
        db.session.execute(
            update(BillImport)
            .where(BillImport.id == import_id, BillImport.started_at == token)
            .values(finished_at=utcnow(), updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )


class _Lost(Exception):
    """Another run took this import over (this one had stopped moving for STALE_AFTER)."""


def run_import(tenant: str, import_id: int) -> BillImport:
    """Write a queued load in batches (the worker's job); returns the record, ``done`` or
    ``failed`` (with ``message`` in Spanish).

    Safe to call more than once for the same id (an at-least-once job): a load that is done,
    or running and moving, is returned as it is; a failed one (or one whose run died) is run
    again from the start, which gives the same bills. ``processed_rows`` and the counts move
    with each committed batch. An unexpected error is recorded as ``failed`` and raised.
    """
    token = _take(tenant, import_id)
    record = get_import(tenant, import_id)
    if record is None:
        raise ImportRefused("No existe esa carga de facturas.")
    if token is None:
        return record
    path = Path(record.path)
    if not record.importable:
        _finish(import_id, token, status=IMPORT_FAILED, message="El archivo no es importable.")
        return _reload(record)
    try:
        size, sha = file_digest(path)
    except OSError:
        size, sha = -1, None
    if sha != record.file_sha256 or size != record.file_bytes:
        _finish(
            import_id,
            token,
            status=IMPORT_FAILED,
            message="El archivo cambió o ya no está desde que se validó: cárguelo de nuevo.",
        )
        return _reload(record)
    report = ImportReport(path=record.filename, import_id=import_id)
    try:
        _write_all(record, token, report)
    except _Lost:
        return _reload(record)
    except Exception as exc:
        log.exception("bill import %s stopped after %s batches", import_id, report.batches)
        message = (
            f"La carga se detuvo después de {report.batches} lotes ({report.processed} filas "
            "guardadas) por un error inesperado. Ejecútela de nuevo: las filas ya guardadas "
            "no cambian y el resultado es el mismo."
        )
        with contextlib.suppress(Exception):
            _finish(import_id, token, status=IMPORT_FAILED, message=message)
        raise ImportRunFailed(message) from exc
    _finish(import_id, token, status=IMPORT_DONE, total_rows=report.rows)
    return _reload(record)


class ImportRunFailed(Exception):
    """An unexpected error stopped a run; it is recorded as failed (Spanish message)."""


def _reload(record: BillImport) -> BillImport:
    db.session.expire(record)
    db.session.refresh(record)
    return record


def _write_all(record: BillImport, token: dt.datetime, report: ImportReport) -> None:
    """Stream the file and write it batch by batch (``report.processed`` follows the commits)."""
    tenant, import_id = record.tenant, record.id
    sqlite = db.engine.dialect.name == "sqlite"
    batch: dict[str, int] = {}  # bill number -> index in rows (a repeated one: last line wins)
    rows: list[tuple] = []
    lines: list[int] = []

    held_for = [0.0]  # how long the last batch held the database

    def flush(processed_now: int) -> None:
        if report.batches and sqlite and SQLITE_PAUSE_SECONDS > 0:
            # A payment waiting for the database goes first.
            time.sleep(min(SQLITE_PAUSE_SECONDS, max(0.02, held_for[0])))
        began = time.monotonic()
        with write_unit():
            if rows:
                _write_batch(tenant, rows, lines, report)
            report.batches += 1
            mine = db.session.execute(
                update(BillImport)
                .where(BillImport.id == import_id, BillImport.started_at == token)
                .values(**_record_values(report, processed_now))
                .execution_options(synchronize_session=False)
            ).rowcount
            if mine != 1:
                raise _Lost()
        held_for[0] = time.monotonic() - began
        report.processed = processed_now

    for line, values in _rows(Path(record.path), tenant, report):
        report.rows += 1
        if values is not None:
            i = batch.get(values[1])
            if i is None:
                batch[values[1]] = len(rows)
                rows.append(values)
                lines.append(line)
            else:
                report.repeated += 1
                rows[i], lines[i] = values, line
        if len(rows) >= BATCH:
            flush(report.rows)
            batch.clear()
            rows.clear()
            lines.clear()
    if report.fatal:  # cannot happen for the validated file (same digest), but never write it
        raise RuntimeError(report.fatal)
    if rows or not report.batches:
        flush(report.rows)


def import_bills(
    tenant: str,
    path: str | Path,
    *,
    skip_invalid: bool = False,
    created_by: str | None = None,
    filename: str | None = None,
) -> ImportReport:
    """Validate, then write, recorded in ``bill_imports``; raise ImportError_ with the report
    when the file is refused (nothing written)."""
    record, report = _prepare(
        tenant, path, filename=filename, created_by=created_by, skip_invalid=skip_invalid
    )
    if report.fatal or (report.invalid and not skip_invalid):
        with write_unit():
            db.session.execute(
                update(BillImport)
                .where(BillImport.id == record.id)
                .values(
                    status=IMPORT_FAILED,
                    finished_at=utcnow(),
                    message=report.fatal or f"{report.invalid} líneas inválidas: nada importado",
                )
                .execution_options(synchronize_session=False)
            )
        raise ImportError_(report)
    queue_import(tenant, record.id)
    record = run_import(tenant, record.id)
    result = ImportReport.of(record)
    result.path = report.path
    if record.status != IMPORT_DONE:  # pragma: no cover - the file changed under us
        result.fatal = record.message
        raise ImportError_(result)
    return result
