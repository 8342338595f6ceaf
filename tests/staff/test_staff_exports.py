"""Exports: Asobancaria 2001 read back by a reader written here from the layout document
(shared/docs/asobancaria-2001.md), not from the writer; CSV parsed with `csv`; XLSX opened
with openpyxl; the CLI and the staff page give the same files."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import itertools
import zipfile

import openpyxl
import pytest
from sqlalchemy import select

from gaspay.extensions import db
from gaspay.payments import services
from gaspay.staff import exports
from gaspay.staff.models import StaffAudit
from tests.payments_helpers import answer
from tests.staff.conftest import make_staff, page_csrf, set_approved_at, sign_in

DAY = dt.date(2026, 4, 14)
# Noon in Bogota on DAY, and 23:50 in Bogota on DAY (04:50 UTC the next day).
NOON = dt.datetime(2026, 4, 14, 17, 0, tzinfo=dt.UTC)
LATE = dt.datetime(2026, 4, 15, 4, 50, tzinfo=dt.UTC)


# --- an independent reader of the layout --------------------------------------------------------

# (record, first position 1-based, last position, name) straight from the layout's table.
LAYOUT = {
    "01": [
        (1, 2, "type"),
        (3, 12, "nit"),
        (13, 20, "collection_date"),
        (21, 23, "bank"),
        (24, 40, "account"),
        (41, 48, "generation_date"),
        (49, 52, "generation_time"),
        (53, 53, "modifier"),
        (54, 55, "account_type"),
        (56, 162, "reserved"),
    ],
    "05": [(1, 2, "type"), (3, 15, "service_code"), (16, 19, "lot"), (20, 162, "reserved")],
    "06": [
        (1, 2, "type"),
        (3, 50, "reference"),
        (51, 64, "amount"),
        (65, 66, "origin"),
        (67, 68, "channel"),
        (69, 74, "operation"),
        (75, 80, "authorisation"),
        (81, 83, "debited_bank"),
        (84, 87, "branch"),
        (88, 94, "sequence"),
        (95, 97, "refund_reason"),
        (98, 162, "reserved"),
    ],
    "08": [
        (1, 2, "type"),
        (3, 11, "count"),
        (12, 29, "total"),
        (30, 33, "lot"),
        (34, 162, "reserved"),
    ],
    "09": [(1, 2, "type"), (3, 11, "count"), (12, 29, "total"), (30, 162, "reserved")],
}
NUMERIC = {
    "nit", "collection_date", "bank", "account", "generation_date", "generation_time",
    "account_type", "service_code", "lot", "reference", "amount", "origin", "channel",
    "operation", "authorisation", "debited_bank", "branch", "sequence", "count", "total",
}  # fmt: skip
NEXT = {"01": {"05"}, "05": {"06", "08"}, "06": {"06", "08"}, "08": {"05", "09"}, "09": set()}


def read_asobancaria(data: bytes) -> dict:
    """Parse and check a whole file; return the header, lots (with details) and file control."""
    assert data.endswith(b"\r\n") and not data.endswith(b"\r\n\r\n"), "CRLF, no blank last line"
    text = data.decode("ascii")
    raw_lines = text.split("\r\n")[:-1]
    assert "\n" not in "".join(raw_lines), "every line ends in CRLF"
    records = []
    for number, line in enumerate(raw_lines, 1):
        assert len(line) == 162, f"line {number} has {len(line)} characters"
        kind = line[:2]
        assert kind in LAYOUT, f"line {number}: unknown record {kind}"
        fields = {name: line[a - 1 : b] for a, b, name in LAYOUT[kind]}
        for name, value in fields.items():
            if name in NUMERIC:
                assert value.isdigit(), f"line {number}: {name} {value!r} is not numeric"
            if name == "reserved":
                assert value.strip() == "", f"line {number}: reserved field not blank"
        records.append(fields)
    kinds = [r["type"] for r in records]
    assert kinds[0] == "01" and kinds[-1] == "09" and kinds.count("01") == kinds.count("09") == 1
    for here, following in itertools.pairwise(kinds):
        assert following in NEXT[here], f"{here} followed by {following}"
    lots, current = [], None
    for record in records[1:-1]:
        if record["type"] == "05":
            current = {"header": record, "details": []}
        elif record["type"] == "06":
            current["details"].append(record)
        else:
            assert record["lot"] == current["header"]["lot"]
            assert int(record["count"]) == len(current["details"])
            assert int(record["total"]) == sum(int(d["amount"]) for d in current["details"])
            current["control"] = record
            lots.append(current)
    details = [d for lot in lots for d in lot["details"]]
    control = records[-1]
    assert int(control["count"]) == len(details), "09 counts 06 records, not lines"
    assert int(control["total"]) == sum(int(d["amount"]) for d in details)
    return {"header": records[0], "lots": lots, "details": details, "control": control}


# --- a day of payments -----------------------------------------------------------------------


@pytest.fixture
def day_of_payments(app, insesp, make_bill):
    """On DAY: one payment of one bill (noon), one payment of two bills (23:50 Bogota); plus a
    payment approved the next day and one still pending, which must not appear."""

    def pay(bills, moment, status="APPROVED", bank="1007"):
        attempt = services.open_attempt(
            insesp,
            bills,
            gateway="pse",
            description="Factura gas",
            payer={
                "payer_name": '=HYPERLINK("http://x")',  # a formula: must stay text
                "payer_email": "pagador@correo.test",
                "payer_ip": "127.0.0.1",
                "document_type": "CC",
                "document_number": "1020304050",
                "bank_code": bank,
                "bank_name": "BANCOLOMBIA",
                "payment_method": "PSE",
            },
        )
        services.apply_answer(
            attempt, answer(attempt, status=status, txn_id=f"t-{attempt.id}", cus="CUS9"), "event"
        )
        if status == "APPROVED":
            set_approved_at(attempt, moment)
        return attempt

    one = pay([make_bill(client="0021053", amount_cents=1_800_000)], NOON)
    two = pay(
        [
            make_bill(client="0021056", amount_cents=3_120_000, bill_number="FG-56-A"),
            make_bill(client="0021056", amount_cents=5_500_050, bill_number="FG-56-B"),
        ],
        LATE,
    )
    pay([make_bill(client="0021054", amount_cents=4_235_000)], LATE + dt.timedelta(hours=1))
    pay([make_bill(client="0021057", amount_cents=990_000)], NOON, status="PENDING")
    db.session.rollback()
    return one, two


def test_asobancaria_file_reads_back_with_matching_counts_and_totals(app, insesp, day_of_payments):
    result = exports.build(insesp, "asobancaria-2001", DAY, DAY)
    data = b"".join(result.chunks)
    parsed = read_asobancaria(data)
    settings = insesp.asobancaria
    header = parsed["header"]
    assert header["nit"] == settings.nit.zfill(10)
    assert header["collection_date"] == "20260414"
    assert header["bank"] == "007" and header["account"] == settings.account.zfill(17)
    assert header["modifier"] == "A" and header["account_type"] == "01"
    assert len(parsed["lots"]) == 1
    assert parsed["lots"][0]["header"]["service_code"] == settings.service_code.zfill(13)
    assert parsed["lots"][0]["header"]["lot"] == "0001"
    details = parsed["details"]
    # One 06 per bill paid: 1 + 2 (the next day's and the pending payment are not here).
    assert [int(d["amount"]) for d in details] == [1_800_000, 3_120_000, 5_500_050]
    assert [d["reference"] for d in details] == [
        "21053".zfill(48),
        "21056".zfill(48),
        "21056".zfill(48),
    ]
    assert [d["sequence"] for d in details] == ["0000002", "0000003", "0000004"]
    assert {(d["origin"], d["channel"]) for d in details} == {("03", "15")}  # PSE
    assert {d["debited_bank"] for d in details} == {"007"}  # PSE's 1007 is Bancolombia, 007
    assert int(parsed["control"]["count"]) == 3
    assert int(parsed["control"]["total"]) == 1_800_000 + 3_120_000 + 5_500_050
    assert result.filename == "insesp-asobancaria-2026-04-14.txt"


def test_asobancaria_empty_day_is_still_a_valid_file(app, insesp):
    parsed = read_asobancaria(b"".join(exports.build(insesp, "asobancaria-2001", DAY, DAY).chunks))
    assert parsed["details"] == [] and parsed["control"]["total"] == "0" * 18


def test_asobancaria_range_is_a_zip_of_daily_files(app, insesp, day_of_payments):
    result = exports.build(insesp, "asobancaria-2001", DAY, DAY + dt.timedelta(days=1))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(result.chunks)))
    names = archive.namelist()
    assert names == ["insesp-asobancaria-2026-04-14.txt", "insesp-asobancaria-2026-04-15.txt"]
    first, second = (read_asobancaria(archive.read(n)) for n in names)
    assert int(first["control"]["count"]) == 3 and int(second["control"]["count"]) == 1
    assert second["header"]["collection_date"] == "20260415"


def test_asobancaria_refuses_what_it_cannot_write(app, insesp, interservicios, day_of_payments):
    no_section = dataclasses.replace(insesp, asobancaria=None)
    with pytest.raises(exports.ExportError, match=r"\[asobancaria\]"):
        exports.build(no_section, "asobancaria-2001", DAY, DAY)
    by_bill = dataclasses.replace(
        insesp, asobancaria=dataclasses.replace(insesp.asobancaria, reference="bill_number")
    )
    with pytest.raises(exports.ExportError, match="no tiene una referencia numérica"):
        exports.build(by_bill, "asobancaria-2001", DAY, DAY)
    no_pse = dataclasses.replace(
        insesp, asobancaria=dataclasses.replace(insesp.asobancaria, methods=())
    )
    with pytest.raises(exports.ExportError, match="procedencia"):
        exports.build(no_pse, "asobancaria-2001", DAY, DAY)


def test_csv_opens_in_spanish_excel_and_parses_with_csv(app, insesp, day_of_payments):
    data = b"".join(exports.build(insesp, "csv", DAY, DAY).chunks)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0][:3] == ["Fecha de recaudo", "Hora", "Referencia de pago"]
    body = rows[1:]
    assert len(body) == 3
    applied = [r[rows[0].index("Valor aplicado")] for r in body]
    assert applied == ["18000,00", "31200,00", "55000,50"]
    assert {r[0] for r in body} == {"14/04/2026"}
    assert body[2][1] == "23:50"  # Colombian time
    payer = body[0][rows[0].index("Pagador")]
    assert payer.startswith("'=")  # never a live formula


def test_xlsx_opens_with_openpyxl(app, insesp, day_of_payments):
    data = b"".join(exports.build(insesp, "xlsx", DAY, DAY).chunks)
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    sheet = book.active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Fecha de recaudo"
    assert len(rows) == 4
    column = rows[0].index("Valor aplicado")
    assert [float(r[column]) for r in rows[1:]] == [18000.0, 31200.0, 55000.5]
    assert rows[1][0] == dt.datetime(2026, 4, 14, 12, 0)
    book.close()


def test_the_cli_writes_the_same_files(app, runner, insesp, day_of_payments, tmp_path):
    target = tmp_path / "recaudo.txt"
    result = runner.invoke(
        args=[
            "staff", "export", "insesp", "--format", "asobancaria-2001",
            "--from", "2026-04-14", "--to", "2026-04-14", "--output", str(target),
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    parsed = read_asobancaria(target.read_bytes())
    assert int(parsed["control"]["count"]) == 3
    out = runner.invoke(
        args=["staff", "export", "insesp", "--format", "csv", "--from", "2026-04-14",
              "--to", "2026-04-14"]
    )  # fmt: skip
    assert out.exit_code == 0 and "Fecha de recaudo" in out.output
    bad = runner.invoke(
        args=["staff", "export", "insesp", "--format", "csv", "--from", "14/04/2026",
              "--to", "2026-04-14"]
    )  # fmt: skip
    assert bad.exit_code != 0 and "AAAA-MM-DD" in bad.output
    backwards = runner.invoke(
        args=["staff", "export", "insesp", "--format", "csv", "--from", "2026-04-15",
              "--to", "2026-04-14"]
    )  # fmt: skip
    assert backwards.exit_code == 1 and "anterior" in backwards.output


def test_the_staff_page_downloads_and_audits(client, app, insesp, day_of_payments):
    user = make_staff(role="consulta")
    sign_in(client, user)
    token = page_csrf(client, "/insesp/empresa/exportar")
    response = client.post(
        "/insesp/empresa/exportar",
        data={
            "csrf_token": token,
            "formato": "asobancaria-2001",
            "desde": "2026-04-14",
            "hasta": "2026-04-14",
        },
    )
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    assert int(read_asobancaria(response.data)["control"]["count"]) == 3
    db.session.rollback()
    row = db.session.scalars(select(StaffAudit).where(StaffAudit.action == "export")).one()
    assert row.actor == user.email and "asobancaria-2001" in row.detail
    error = client.post(
        "/insesp/empresa/exportar",
        data={"csrf_token": token, "formato": "csv", "desde": "2026-04-15", "hasta": "2026-04-14"},
    )
    assert error.status_code == 422
    assert "La fecha final es anterior a la inicial." in error.get_data(as_text=True)


# --- the tenant file's [asobancaria] section ---------------------------------------------------


def _section(**over):
    values = {
        "nit": "8001234561",
        "bank_code": "007",
        "account": "123",
        "account_type": "01",
        "service_code": "7709998000017",
        "reference": "client_number",
    }
    values.update(over)
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"nit": None}, "asobancaria.nit' is missing"),
        ({"nit": "800.123.456-1"}, "asobancaria.nit' must be 1 to 10 digits"),
        ({"bank_code": "0007"}, "asobancaria.bank_code' must be 1 to 3 digits"),
        ({"account_type": "03"}, "asobancaria.account_type"),
        ({"reference": "cedula"}, "asobancaria.reference' must be one of"),
        ({"file_modifier": "AB"}, "file_modifier"),
        ({"methods": {"PSE": {"origin": "3", "channel": "15"}}}, "methods.PSE.origin"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_a_bad_asobancaria_section_names_the_file_and_field(tmp_path, over, message):
    from pathlib import Path

    from gaspay.tenancy.config import TenantConfigError, load_tenant_file

    source = Path("instance/tenants/insesp.toml").read_text()
    head = source.split("[asobancaria]")[0]
    import tomllib

    data = tomllib.loads(head)
    section = _section(**over)
    lines = [f'{k} = "{v}"' for k, v in section.items() if isinstance(v, str)]
    methods = section.get("methods")
    text = head + "\n[asobancaria]\n" + "\n".join(lines) + "\n"
    if methods:
        text += "\n[asobancaria.methods]\n" + "".join(
            f'{name} = {{ origin = "{m["origin"]}", channel = "{m["channel"]}" }}\n'
            for name, m in methods.items()
        )
    assert data["slug"] == "insesp"
    path = tmp_path / "insesp.toml"
    path.write_text(text)
    with pytest.raises(TenantConfigError, match=message) as info:
        load_tenant_file(path)
    assert str(path) in str(info.value)


def test_the_demo_tenants_have_asobancaria_settings(insesp, interservicios):
    assert insesp.asobancaria.reference == "client_number"
    assert insesp.asobancaria.origin_channel("PSE") == ("03", "15")
    assert interservicios.asobancaria.origin_channel("card") == ("01", "25")
    assert insesp.asobancaria.origin_channel("NEQUI") is None
