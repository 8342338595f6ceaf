"""`flask bills import`: good files, bad lines, re-imports, paid bills kept paid."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import func, select

from gaspay.billing.importer import COLUMNS, ImportError_, import_bills
from gaspay.billing.models import Bill
from gaspay.extensions import db


def write(path, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in COLUMNS})
    return path


def row(n, **values):
    base = {
        "bill_number": f"B-{n}",
        "client_number": f"00{n}",
        "concept": "Factura del Gas",
        "first_name": "Ana",
        "last_name": "Pérez",
        "amount": "18000",
        "vat": "0",
        "due_on": "2030-01-31",
    }
    base.update(values)
    return base


def count(tenant="insesp"):
    return db.session.scalar(select(func.count()).select_from(Bill).where(Bill.tenant == tenant))


def test_good_file_imports_every_row(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(i) for i in range(1, 6)])
    report = import_bills("insesp", path)
    assert (report.rows, report.written, report.invalid) == (5, 5, 0)
    assert count() == 5
    bill = db.session.scalar(select(Bill).where(Bill.bill_number == "B-1"))
    assert bill.client_number == "1" and bill.client_display == "001"
    assert bill.amount_cents == 1_800_000 and bill.currency == "COP"


def test_bad_lines_are_reported_and_nothing_is_imported(app, tmp_path):
    rows = [row(1), row(2, amount="18.000,00"), row(3, due_on="31-31-2030"), row(4, vat="99999")]
    path = write(tmp_path / "b.csv", rows)
    with pytest.raises(ImportError_) as info:
        import_bills("insesp", path)
    report = info.value.report
    assert report.invalid == 3
    assert report.errors[0].startswith("línea 3:") and "'amount'" in report.errors[0]
    assert report.errors[1].startswith("línea 4:") and "'due_on'" in report.errors[1]
    assert "'vat'" in report.errors[2]
    assert count() == 0


def test_skip_invalid_imports_the_good_and_reports_the_bad(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1), row(2, client_number=""), row(3)])
    report = import_bills("insesp", path, skip_invalid=True)
    assert (report.written, report.invalid) == (2, 1)
    assert "client_number" in report.errors[0]
    assert count() == 2


def test_missing_header_column_refuses_the_file(app, tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("bill_number,client_number\nB-1,21053\n")
    with pytest.raises(ImportError_, match="faltan columnas en el encabezado"):
        import_bills("insesp", path)


def test_reimport_is_idempotent_and_updates(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1), row(2)])
    import_bills("insesp", path)
    import_bills("insesp", path)
    assert count() == 2
    write(path, [row(1, amount="20000"), row(2)])
    import_bills("insesp", path)
    db.session.expire_all()
    bill = db.session.scalar(select(Bill).where(Bill.bill_number == "B-1"))
    assert bill.amount_cents == 2_000_000 and count() == 2


def test_reimport_never_unpays_a_paid_bill(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1, state="paid")])
    import_bills("insesp", path)
    write(path, [row(1, state="unpaid", amount="1")])
    import_bills("insesp", path)
    db.session.expire_all()
    bill = db.session.scalar(select(Bill).where(Bill.bill_number == "B-1"))
    assert bill.state == "paid" and bill.amount_cents == 1_800_000


def test_same_bill_number_in_two_tenants_are_two_bills(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1)])
    import_bills("insesp", path)
    import_bills("interservicios", path)
    assert count("insesp") == 1 and count("interservicios") == 1


def test_cli_import_and_error_exit(runner, tmp_path):
    good = write(tmp_path / "good.csv", [row(1)])
    result = runner.invoke(args=["bills", "import", "insesp", str(good)])
    assert result.exit_code == 0 and "1 escritas" in result.output
    bad = write(tmp_path / "bad.csv", [row(2, amount="abc")])
    result = runner.invoke(args=["bills", "import", "insesp", str(bad)])
    assert result.exit_code == 1 and "línea 2" in result.output
    result = runner.invoke(args=["bills", "import", "nadie", str(good)])
    assert result.exit_code != 0 and "not configured" in result.output


def test_demo_load_is_idempotent(runner, app):
    for _ in range(2):
        result = runner.invoke(args=["demo", "load"])
        assert result.exit_code == 0, result.output
    bill = db.session.scalar(select(Bill).where(Bill.client_number == "21053"))
    assert bill.amount_cents == 1_800_000 and bill.concept == "Factura del Gas"
    assert bill.holder_first_name == "Usuario" and bill.phone == "6472050"
    assert count("insesp") == 6 and count("interservicios") == 3
