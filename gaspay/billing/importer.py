"""Loading a utility's bills from CSV: validate the whole file, then upsert it in one transaction.

The file is read twice as a stream (never held in memory): the first pass validates every line
and reports errors with line numbers; the second writes batches of rows inside one transaction,
so a bad file (unless ``skip_invalid``) or a crash leaves nothing half imported. Rows are upserted
by (tenant, bill number); a bill already paid in the portal is never changed by a re-import.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite

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
AMOUNT_RE = re.compile(r"^\d{1,13}(\.\d{1,2})?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STATES = {"unpaid": UNPAID, "paid": PAID, "no pagado": UNPAID, "pagado": PAID, "": UNPAID}
BATCH = 2000
MAX_REPORTED = 50


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
    text = text.strip()
    if not AMOUNT_RE.match(text):
        raise ValueError(f"'{column}' debe ser un valor en pesos como 18000 o 18000.50")
    try:
        return int(Decimal(text) * 100)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards
        raise ValueError(f"'{column}' no es un número") from exc


def parse_date(text: str, column: str) -> dt.date:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"'{column}' debe ser una fecha AAAA-MM-DD o DD/MM/AAAA")


def parse_row(tenant: str, row: dict[str, str]) -> dict:
    """One CSV row -> the values of a Bill row; ValueError says what is wrong (in Spanish)."""
    values = {k: (row.get(k) or "").strip() for k in COLUMNS}
    missing = [k for k in REQUIRED if not values[k]]
    if missing:
        raise ValueError("faltan columnas obligatorias: " + ", ".join(missing))
    try:
        client = normalise_number(values["client_number"])
        reference = (
            normalise_number(values["payment_reference"]) if values["payment_reference"] else None
        )
    except InvalidNumber as exc:
        raise ValueError(f"número de cliente o referencia inválido: {exc}") from exc
    amount = parse_amount(values["amount"], "amount")
    vat = parse_amount(values["vat"] or "0", "vat")
    if amount <= 0:
        raise ValueError("'amount' debe ser mayor que cero")
    if vat > amount:
        raise ValueError("'vat' no puede ser mayor que 'amount'")
    currency = (values["currency"] or "COP").upper()
    if currency != "COP":
        raise ValueError("'currency' debe ser COP")
    email = values["email"] or None
    if email and not EMAIL_RE.match(email):
        raise ValueError("'email' no es un correo válido")
    state = STATES.get(values["state"].lower())
    if state is None:
        raise ValueError("'state' debe ser unpaid o paid")
    if len(values["bill_number"]) > 40 or len(values["concept"]) > 120:
        raise ValueError("'bill_number' o 'concept' es demasiado largo")
    return {
        "tenant": tenant,
        "bill_number": values["bill_number"],
        "client_number": client,
        "client_display": values["client_number"][:40],
        "payment_reference": reference,
        "concept": values["concept"],
        "holder_first_name": values["first_name"][:80],
        "holder_last_name": values["last_name"][:80],
        "email": email,
        "phone": values["phone"][:30] or None,
        "amount_cents": amount,
        "vat_cents": vat,
        "currency": currency,
        "period": values["period"][:20] or None,
        "issued_on": parse_date(values["issued_on"], "issued_on") if values["issued_on"] else None,
        "due_on": parse_date(values["due_on"], "due_on"),
        "state": state,
    }


def _rows(path: Path, tenant: str, report: ImportReport) -> Iterator[tuple[int, dict | None]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            report.add_error(1, "faltan columnas en el encabezado: " + ", ".join(missing))
            return
        for row in reader:
            line = reader.line_num
            try:
                yield line, parse_row(tenant, row)
            except ValueError as exc:
                report.add_error(line, str(exc))
                yield line, None


def _upsert(batch: list[dict]) -> None:
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Bill)
    now = utcnow()
    for row in batch:
        row["created_at"] = row["updated_at"] = now
        row["paid_at"] = now if row["state"] == PAID else None
    keep = ("tenant", "bill_number", "created_at")
    updatable = {k: stmt.excluded[k] for k in batch[0] if k not in keep}
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant", "bill_number"],
        set_=updatable,
        where=Bill.state != PAID,
    )
    db.session.execute(stmt, batch)


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
    batch: dict[str, dict] = {}
    with write_unit():
        for _line, values in _rows(path, tenant, check):
            if values is None:
                continue
            batch[values["bill_number"]] = values  # a repeated bill number: the last line wins
            if len(batch) >= BATCH:
                _upsert(list(batch.values()))
                report.written += len(batch)
                batch.clear()
        if batch:
            _upsert(list(batch.values()))
            report.written += len(batch)
    return report
