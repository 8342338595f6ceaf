"""Reconciliation exports of approved money: CSV (Spanish Excel), XLSX and Asobancaria 2001.

A collection date is the Colombian date of the approval (the attempt's ``finalized_at`` in
America/Bogota). Every export is one row per bill paid, with the amount applied to it, and is
read from the database in batches (``yield_per``) and written as it goes: memory stays bounded
however many payments the range holds.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from gaspay.billing.models import Bill
from gaspay.extensions import db
from gaspay.payments import transitions as T
from gaspay.payments.models import AttemptBill, PaymentAttempt
from gaspay.staff.payments import GATEWAYS, METHODS, day_bounds
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import BOGOTA, as_utc

FORMATS = {"csv": "CSV (Excel)", "xlsx": "Excel (XLSX)", "asobancaria-2001": "Asobancaria 2001"}
MAX_DAYS = 366
BATCH = 2000
A = PaymentAttempt
HEADERS = (
    "Fecha de recaudo",
    "Hora",
    "Referencia de pago",
    "Canal",
    "Medio de pago",
    "Banco",
    "CUS",
    "Transacción",
    "Número de cliente",
    "Factura",
    "Referencia de la factura",
    "Concepto",
    "Valor aplicado",
    "Valor del pago",
    "Moneda",
    "Pagador",
    "Tipo de documento",
    "Documento",
    "Correo",
    "En revisión",
)


class ExportError(ValueError):
    """The export cannot be made; the message (Spanish) says why."""


@dataclass(frozen=True)
class Line:
    """One bill paid by one approved payment."""

    approved_at: dt.datetime  # Bogota time
    reference: str
    gateway: str
    method: str | None
    bank_code: str | None
    bank_name: str | None
    cus: str | None
    txn_id: str | None
    payment_cents: int
    currency: str
    payer_name: str | None
    document_type: str | None
    document_number: str | None
    payer_email: str | None
    review_reason: str | None
    client_display: str
    client_number: str
    bill_number: str
    bill_reference: str | None
    concept: str
    applied_cents: int


def check_range(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise ExportError("La fecha final es anterior a la inicial.")
    if (end - start).days + 1 > MAX_DAYS:
        raise ExportError(f"El rango no puede pasar de {MAX_DAYS} días.")


def lines(slug: str, start: dt.date, end: dt.date) -> Iterator[Line]:
    """Approved bills paid in [start, end] (Colombian dates), in approval order, streamed."""
    low, high = day_bounds(start, end)
    query = (
        select(
            A.finalized_at,
            A.reference,
            A.gateway,
            A.payment_method,
            A.bank_code,
            A.bank_name,
            A.cus,
            A.gateway_txn_id,
            A.amount_cents,
            A.currency,
            A.payer_name,
            A.document_type,
            A.document_number,
            A.payer_email,
            A.review_reason,
            Bill.client_display,
            Bill.client_number,
            Bill.bill_number,
            Bill.payment_reference,
            Bill.concept,
            AttemptBill.amount_cents,
        )
        .join(AttemptBill, AttemptBill.attempt_id == A.id)
        .join(Bill, Bill.id == AttemptBill.bill_id)
        .where(
            A.tenant == slug,
            A.status == T.APPROVED,
            A.finalized_at >= low,
            A.finalized_at < high,
            Bill.tenant == slug,
        )
        .order_by(A.finalized_at, A.id, Bill.id)
        .execution_options(yield_per=BATCH)
    )
    result = db.session.execute(query)
    try:
        for row in result:
            yield Line(as_utc(row[0]).astimezone(BOGOTA), *row[1:])
    finally:
        result.close()  # a server-side cursor on PostgreSQL: closed even when a consumer fails


# --- CSV -----------------------------------------------------------------------------------------


def _pesos_text(cents: int) -> str:
    """18000,00: Spanish Excel reads a comma as the decimal mark (no thousands separator)."""
    return f"{cents // 100},{cents % 100:02d}"


def _cell(text: str | None) -> str:
    """No formula injection: a cell that starts like a formula is kept as text."""
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _values(line: Line) -> list:
    return [
        line.approved_at.strftime("%d/%m/%Y"),
        line.approved_at.strftime("%H:%M"),
        line.reference,
        GATEWAYS.get(line.gateway, line.gateway),
        METHODS.get(line.method or "", line.method or ""),
        line.bank_name or "",
        line.cus or "",
        line.txn_id or "",
        line.client_display,
        line.bill_number,
        line.bill_reference or "",
        line.concept,
        line.applied_cents,
        line.payment_cents,
        line.currency,
        line.payer_name or "",
        line.document_type or "",
        line.document_number or "",
        line.payer_email or "",
        "Sí" if line.review_reason else "No",
    ]


class _Buffer:
    def __init__(self):
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def csv_chunks(rows: Iterable[Line]) -> Iterator[bytes]:
    """UTF-8 with BOM, `;` between fields, CRLF: what Excel in Spanish opens as columns."""
    buffer = _Buffer()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADERS)
    yield b"\xef\xbb\xbf" + buffer.take().encode("utf-8")
    for count, line in enumerate(rows, 1):
        values = [_cell(v) if isinstance(v, str) else v for v in _values(line)]
        values[12], values[13] = _pesos_text(line.applied_cents), _pesos_text(line.payment_cents)
        writer.writerow(values)
        if count % 500 == 0:
            yield buffer.take().encode("utf-8")
    rest = buffer.take()
    if rest:
        yield rest.encode("utf-8")


# --- XLSX ----------------------------------------------------------------------------------------


def xlsx_file(rows: Iterable[Line], title: str) -> tempfile.SpooledTemporaryFile:
    """The workbook written row by row in XlsxWriter's constant-memory mode (each row goes to a
    temporary file as it comes, strings inline: no table of every string kept in memory),
    then saved to a temporary file."""
    import xlsxwriter

    out = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 - returned
    workbook = xlsxwriter.Workbook(
        out, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = workbook.add_worksheet(title[:31])
    bold = workbook.add_format({"bold": True})
    moment = workbook.add_format({"num_format": "DD/MM/YYYY HH:MM"})
    money = workbook.add_format({"num_format": "#,##0.00"})
    sheet.write_row(0, 0, HEADERS, bold)
    for number, line in enumerate(rows, 1):
        values = _values(line)
        values[1] = line.approved_at.strftime("%H:%M")
        sheet.write_row(number, 1, [v if not isinstance(v, str) else _cell(v) for v in values[1:]])
        sheet.write_datetime(number, 0, line.approved_at.replace(tzinfo=None), moment)
        for i in (12, 13):
            sheet.write_number(number, i, float(Decimal(values[i]) / 100), money)
    workbook.close()
    out.seek(0)
    return out


def file_chunks(fh, size: int = 64 * 1024) -> Iterator[bytes]:
    try:
        while chunk := fh.read(size):
            yield chunk
    finally:
        fh.close()


# --- Asobancaria 2001 ----------------------------------------------------------------------------


def asobancaria_name(tenant: Tenant, day: dt.date) -> str:
    return f"{tenant.slug}-asobancaria-{day.isoformat()}.txt"


def asobancaria_file(tenant: Tenant, start: dt.date, end: dt.date):
    """One day: the file itself. Several days: a ZIP with one file per collection day.

    Written to a spooled temporary file (memory up to 8 MiB, then disk) before the first byte
    is sent, so a bad setting or reference is a clear message, never a cut download.
    """
    from gaspay.staff import asobancaria

    settings = tenant.asobancaria
    if settings is None:
        raise ExportError(
            "Falta la sección [asobancaria] en el archivo de la empresa: no se puede generar "
            "el archivo Asobancaria 2001."
        )
    out = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 - returned
    try:
        if start == end:
            with closing(lines(tenant.slug, start, end)) as rows:
                for chunk in asobancaria.file_lines(settings, start, rows):
                    out.write(chunk)
        else:
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                day = start
                while day <= end:
                    name = asobancaria_name(tenant, day)
                    with (
                        archive.open(name, "w") as member,
                        closing(lines(tenant.slug, day, day)) as rows,
                    ):
                        for chunk in asobancaria.file_lines(settings, day, rows):
                            member.write(chunk)
                    day += dt.timedelta(days=1)
    except asobancaria.LayoutError as exc:
        out.close()
        raise ExportError(str(exc)) from exc
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


@dataclass(frozen=True)
class Export:
    filename: str
    mimetype: str
    chunks: Iterator[bytes]


def build(tenant: Tenant, fmt: str, start: dt.date, end: dt.date) -> Export:
    """The export as a stream of bytes (raises ExportError before the first byte)."""
    check_range(start, end)
    span = start.isoformat() if start == end else f"{start.isoformat()}_{end.isoformat()}"
    if fmt == "csv":
        return Export(
            f"{tenant.slug}-recaudo-{span}.csv",
            "text/csv; charset=utf-8",
            csv_chunks(lines(tenant.slug, start, end)),
        )
    if fmt == "xlsx":
        with closing(lines(tenant.slug, start, end)) as rows:
            out = xlsx_file(rows, f"Recaudo {span}")
        return Export(
            f"{tenant.slug}-recaudo-{span}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            file_chunks(out),
        )
    if fmt == "asobancaria-2001":
        out = asobancaria_file(tenant, start, end)
        if start == end:
            return Export(asobancaria_name(tenant, start), "text/plain", file_chunks(out))
        return Export(f"{tenant.slug}-asobancaria-{span}.zip", "application/zip", file_chunks(out))
    raise ExportError("Formato desconocido: use csv, xlsx o asobancaria-2001.")
