"""The Asobancaria 2001 collection file, exactly as ``shared/docs/asobancaria-2001.md`` lays it out.

Fixed width, ASCII, every line 162 characters and CRLF (the last one too): one ``01`` header,
one lot per service code (``05``, its ``06`` details, ``08`` control), one ``09`` file control.
One ``06`` per bill paid, with the amount applied to that bill; ``08`` and ``09`` carry the
count of ``06`` records and the sum of their amounts. Numeric fields are right-aligned and
zero-filled, text and reserved fields left-aligned and space-filled; amounts in whole cents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator

from gaspay.tenancy.asobancaria import AsobancariaSettings
from gaspay.timeutil import BOGOTA, utcnow

WIDTH = 162
EOL = b"\r\n"
FIRST_SEQUENCE = 2  # real files number their first detail 0000002
SEPARATORS = re.compile(r"[\s.\-/]+")


class LayoutError(ValueError):
    """A value does not fit the layout; the message (Spanish) names the payment and the bill."""


def num(value: int | str, width: int, what: str) -> str:
    text = str(value)
    if not text.isdigit() or len(text) > width:
        raise LayoutError(f"{what}: '{text}' no cabe en {width} dígitos")
    return text.zfill(width)


def alpha(text: str, width: int) -> str:
    text = text.encode("ascii", "replace").decode("ascii")
    return text[:width].ljust(width)


def _line(*fields: str) -> bytes:
    line = "".join(fields)
    if len(line) != WIDTH:  # a bug here must never reach a bank's reader
        raise AssertionError(f"Asobancaria line of {len(line)} characters: {line!r}")
    return line.encode("ascii") + EOL


def header(s: AsobancariaSettings, day: dt.date, generated: dt.datetime) -> bytes:
    local = generated.astimezone(BOGOTA)
    return _line(
        "01",
        num(s.nit, 10, "NIT"),
        day.strftime("%Y%m%d"),
        num(s.bank_code, 3, "código del banco"),
        num(s.account, 17, "cuenta"),
        local.strftime("%Y%m%d"),
        local.strftime("%H%M"),
        s.file_modifier,
        num(s.account_type, 2, "tipo de cuenta"),
        alpha("", 107),
    )


def lot_header(s: AsobancariaSettings, lot: int) -> bytes:
    return _line(
        "05", num(s.service_code, 13, "código de servicio"), num(lot, 4, "lote"), alpha("", 143)
    )


def reference_of(s: AsobancariaSettings, line) -> str:
    """The reference the company bills by, digits only (zero-filled to 48 by the caller)."""
    raw = {
        "client_number": line.client_number,
        "payment_reference": line.bill_reference,
        "bill_number": line.bill_number,
    }[s.reference]
    digits = SEPARATORS.sub("", raw or "")
    if not digits.isdigit():
        raise LayoutError(
            f"La factura {line.bill_number} del pago {line.reference} no tiene una referencia "
            f"numérica ({s.reference} = '{raw or ''}'): el archivo Asobancaria solo admite dígitos."
        )
    return digits


def debited_bank(code: str | None) -> str:
    """PSE codes the bank with four digits (1007 = 007 Bancolombia); unknown: zeros."""
    code = (code or "").strip()
    if len(code) == 4 and code.isdigit() and code[0] == "1":
        code = code[1:]
    return code.zfill(3) if code.isdigit() and len(code) <= 3 else "000"


def detail(s: AsobancariaSettings, line, sequence: int) -> bytes:
    mapping = s.origin_channel(line.method)
    if mapping is None:
        raise LayoutError(
            f"El pago {line.reference} se hizo con '{line.method or 'sin medio'}', que no tiene "
            "procedencia ni medio de pago en [asobancaria.methods] del archivo de la empresa."
        )
    origin, channel = mapping
    return _line(
        "06",
        num(reference_of(s, line), 48, f"referencia del pago {line.reference}"),
        num(line.applied_cents, 14, f"valor del pago {line.reference}"),
        origin,
        channel,
        "0" * 6,  # operation number: none
        "0" * 6,  # authorisation number: none
        debited_bank(line.bank_code),
        "0" * 4,  # branch: none
        num(sequence, 7, "secuencia"),
        "000",  # no refund
        alpha("", 65),
    )


def lot_control(count: int, total: int, lot: int) -> bytes:
    return _line(
        "08",
        num(count, 9, "registros del lote"),
        num(total, 18, "total del lote"),
        num(lot, 4, "lote"),
        alpha("", 129),
    )


def file_control(count: int, total: int) -> bytes:
    return _line(
        "09",
        num(count, 9, "registros del archivo"),
        num(total, 18, "total del archivo"),
        alpha("", 133),
    )


def file_lines(
    s: AsobancariaSettings, day: dt.date, rows: Iterable, generated: dt.datetime | None = None
) -> Iterator[bytes]:
    """The whole file for one collection day, line by line (one lot: one service code)."""
    yield header(s, day, generated or utcnow())
    lot = 1
    yield lot_header(s, lot)
    count = total = 0
    for row in rows:
        yield detail(s, row, FIRST_SEQUENCE + count)
        count += 1
        total += row.applied_cents
    yield lot_control(count, total, lot)
    yield file_control(count, total)
