"""`flask bills import`: good files, bad lines, re-imports, paid bills kept paid; bills held by a
payment left alone; files that are not UTF-8 or fields too long for their column; batches of
short transactions; the record of every load (`bill_imports`) the staff area reads."""

from __future__ import annotations

import csv
import threading
import time

import pytest
from sqlalchemy import String, create_engine, func, select, update
from sqlalchemy.pool import NullPool

from gaspay.billing import importer
from gaspay.billing.importer import (
    COLUMNS,
    LIMITS,
    ImportError_,
    ImportRefused,
    ImportRunFailed,
    get_import,
    import_bills,
    list_imports,
    prepare_import,
    queue_import,
    run_import,
    validate_file,
)
from gaspay.billing.models import Bill, BillImport
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments import transitions as T
from gaspay.payments.models import BillHold, GatewayCache
from gaspay.timeutil import utcnow
from tests.payments_helpers import open_pse_attempt


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


def bill(number: str) -> Bill:
    db.session.expire_all()
    return db.session.scalar(select(Bill).where(Bill.bill_number == number))


def latest_import(tenant="insesp") -> BillImport:
    db.session.expire_all()
    return list_imports(tenant, limit=1)[0]


# --- A: a bill held by a payment is never changed by a re-import ------------------------------


def test_reimport_leaves_a_bill_under_a_live_payment_unchanged(app, tmp_path, insesp):
    path = write(tmp_path / "b.csv", [row(1), row(2), row(3)])
    import_bills("insesp", path)
    open_pse_attempt(insesp, bill("B-2"))  # live: created
    write(path, [row(1, amount="20000"), row(2, amount="99999"), row(3, state="paid")])
    report = import_bills("insesp", path)
    assert bill("B-2").amount_cents == 1_800_000 and bill("B-2").state == "unpaid"
    assert bill("B-1").amount_cents == 2_000_000 and bill("B-3").state == "paid"
    assert (report.updated, report.held, report.written) == (2, 1, 2)
    assert "línea 3: factura B-2 en proceso de pago: no se modificó" in report.summary()
    record = latest_import()
    assert record.held == 1 and record.notice_list == [
        {
            "line": 3,
            "bill_number": "B-2",
            "message": "factura B-2 en proceso de pago: no se modificó",
        }
    ]


def test_reimport_leaves_a_partly_paid_bill_unchanged_and_reports_its_balance(
    app, tmp_path, insesp
):
    """Issue 14: an abono releases the hold, but money applied still protects the bill."""
    path = write(tmp_path / "b.csv", [row(1)])
    import_bills("insesp", path)
    target = bill("B-1")
    attempt = services.open_attempt(
        insesp,
        [target],
        gateway="pse",
        description="abono",
        payer={"payer_name": "X"},
        amounts={target.id: 1_000_000},
    )
    services.transition(attempt.id, T.GATEWAY_APPROVED, "job")
    assert services.holds_for_bills(insesp, [target.id]) == {}  # free for the next abono
    write(path, [row(1, amount="50000")])
    report = import_bills("insesp", path)
    assert bill("B-1").amount_cents == target.amount_cents and report.held == 1
    assert "con abonos aplicados (saldo pendiente $ 8.000): no se modificó" in report.summary()


def test_reimport_never_marks_paid_a_bill_under_a_pending_payment(app, tmp_path, insesp):
    path = write(tmp_path / "b.csv", [row(1)])
    import_bills("insesp", path)
    attempt = open_pse_attempt(insesp, bill("B-1"))
    services.transition(attempt.id, T.GATEWAY_PENDING, "job")
    write(path, [row(1, state="paid")])
    report = import_bills("insesp", path)
    assert bill("B-1").state == "unpaid" and bill("B-1").paid_at is None
    assert report.held == 1 and "en proceso de pago: no se modificó" in report.notices[0]


def test_reimport_leaves_a_bill_with_an_approved_payment_unchanged(app, tmp_path, insesp):
    path = write(tmp_path / "b.csv", [row(1), row(2)])
    import_bills("insesp", path)
    paid = open_pse_attempt(insesp, bill("B-1"))
    services.transition(paid.id, T.GATEWAY_APPROVED, "job")
    # An approved attempt's hold on a bill not (yet) marked paid: kept as well.
    approved = open_pse_attempt(insesp, bill("B-2"))
    with write_unit():
        db.session.execute(
            update(services.PaymentAttempt)
            .where(services.PaymentAttempt.id == approved.id)
            .values(status=T.APPROVED)
        )
    write(path, [row(1, amount="1", state="unpaid"), row(2, amount="1")])
    report = import_bills("insesp", path)
    assert bill("B-1").state == "paid" and bill("B-1").amount_cents == 1_800_000
    assert bill("B-2").amount_cents == 1_800_000
    assert report.held == 2 and report.notices == [
        "línea 2: factura B-1 ya pagada: no se modificó",
        "línea 3: factura B-2 con un pago aprobado: no se modificó",
    ]


def test_a_released_bill_is_updated_again(app, tmp_path, insesp):
    path = write(tmp_path / "b.csv", [row(1)])
    import_bills("insesp", path)
    attempt = open_pse_attempt(insesp, bill("B-1"))
    services.transition(attempt.id, T.GATEWAY_DECLINED, "job")  # releases the hold
    write(path, [row(1, amount="20000")])
    report = import_bills("insesp", path)
    assert bill("B-1").amount_cents == 2_000_000 and (report.updated, report.held) == (1, 0)


def test_a_payment_opened_between_validation_and_write_keeps_its_bill(app, tmp_path, insesp):
    path = write(tmp_path / "b.csv", [row(1)])
    import_bills("insesp", path)
    write(path, [row(1, amount="20000")])
    record = prepare_import("insesp", path, created_by="ana@insesp.test")
    open_pse_attempt(insesp, bill("B-1"))  # after the validation, before the write
    queue_import("insesp", record.id)
    record = run_import("insesp", record.id)
    assert record.status == "done" and (record.updated, record.held) == (0, 1)
    assert bill("B-1").amount_cents == 1_800_000


def test_the_write_itself_refuses_a_held_bill(app, tmp_path, insesp, monkeypatch):
    """The hold test is part of the UPDATE, not a separate read: with the importer's own read of
    the held bills made blind, the bill under payment is still not changed."""
    path = write(tmp_path / "b.csv", [row(1), row(2)])
    import_bills("insesp", path)
    open_pse_attempt(insesp, bill("B-1"))
    monkeypatch.setattr(importer, "_guarded", lambda writer: [])
    write(path, [row(1, amount="20000", state="paid"), row(2, amount="20000")])
    import_bills("insesp", path)
    assert bill("B-1").amount_cents == 1_800_000 and bill("B-1").state == "unpaid"
    assert bill("B-2").amount_cents == 2_000_000


# --- B: files and fields the database cannot take are line-numbered Spanish messages ----------


def test_a_file_not_in_utf8_is_one_clear_message_and_nothing_is_written(app, tmp_path):
    path = tmp_path / "excel.csv"
    good = tmp_path / "good.csv"
    write(good, [row(1, last_name="Diaz"), row(2, last_name="Núñez"), row(3)])
    path.write_bytes(good.read_text(encoding="utf-8").encode("cp1252"))  # Excel's "CSV"
    offset = path.read_bytes().index("Núñez".encode("cp1252")) + 1
    for skip in (False, True):
        with pytest.raises(ImportError_) as info:
            import_bills("insesp", path, skip_invalid=skip)
        report = info.value.report
        assert report.fatal == (
            f"El archivo no está en UTF-8 (línea 3, byte {offset}: 0xFA). Guárdelo como "
            "«CSV UTF-8 (delimitado por comas)» y cárguelo de nuevo."
        )
        assert report.errors == [f"línea 3: {report.fatal}"] and report.invalid == 1
        assert count() == 0
    assert latest_import().status == "failed" and not latest_import().readable


def test_a_file_not_in_utf8_from_its_first_byte(app, tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfeb\x00i\x00l\x00")  # UTF-16, as some programs save "Unicode"
    report = validate_file("insesp", path)
    assert report.fatal.startswith("El archivo no está en UTF-8 (línea 1, byte 0: 0xFF)")


def test_cli_says_not_utf8_without_a_traceback(runner, tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(
        ",".join(COLUMNS).encode() + b"\nB-1,21053,,Factura,Jos\xe9,,,,18000,0,,,,2030-01-31,\n"
    )
    result = runner.invoke(args=["bills", "import", "insesp", str(path), "--skip-invalid"])
    assert result.exit_code == 1
    assert "El archivo no está en UTF-8 (línea 2, byte" in result.output
    assert "Traceback" not in result.output and count() == 0


def test_a_byte_order_mark_is_accepted(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1)])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    report = import_bills("insesp", path)
    assert (report.rows, report.written) == (1, 1) and bill("B-1") is not None


def text_columns() -> set[str]:
    """Bill's text columns a file sets (tenant comes from the command; currency and state are
    checked against their few values)."""
    return {
        c.name
        for c in Bill.__table__.columns
        if isinstance(c.type, String) and c.name not in ("tenant", "currency", "state")
    }


def test_every_text_column_of_bill_has_its_length_checked():
    assert set(LIMITS) == text_columns()
    assert all(LIMITS[name] == Bill.__table__.c[name].type.length for name in LIMITS)


TOO_LONG = {
    "bill_number": ("B-" + "9" * 39, 40),
    "client_number": ("00 " * 13 + "21", 40),  # 41 as printed; 21 once normalised
    "concept": ("F" * 121, 120),
    "first_name": ("A" * 81, 80),
    "last_name": ("P" * 81, 80),
    "email": ("a" * 245 + "@correo.test", 254),
    "phone": ("3" * 31, 30),
    "period": ("2026-11" * 3, 20),
}


@pytest.mark.parametrize("column", sorted(TOO_LONG))
def test_a_field_longer_than_its_column_is_a_line_error(app, tmp_path, column):
    value, limit = TOO_LONG[column]
    path = write(tmp_path / "b.csv", [row(1), row(2, **{column: value})])
    with pytest.raises(ImportError_) as info:
        import_bills("insesp", path)
    assert info.value.report.errors == [
        f"línea 3: '{column}' tiene {len(value)} caracteres; el máximo es {limit}"
    ]
    assert count() == 0
    report = import_bills("insesp", path, skip_invalid=True)  # the good line still imports
    assert (report.written, report.invalid) == (1, 1)
    assert latest_import().error_list[0]["field"] == column


def test_every_field_at_its_column_length_imports(app, tmp_path):
    longest = {
        "bill_number": "B-" + "9" * 38,
        "client_number": "00 " * 13 + "2",
        "concept": "F" * 120,
        "first_name": "Á" * 80,
        "last_name": "P" * 80,
        "email": "a" * 242 + "@correo.test",
        "phone": "3" * 30,
        "period": "2026-11-" + "x" * 12,
    }
    path = write(tmp_path / "b.csv", [row(1, **longest)])
    import_bills("insesp", path)
    stored = bill(longest["bill_number"])
    assert len(stored.email) == 254 and stored.client_display == longest["client_number"]


def test_nul_characters_and_endless_lines_are_messages(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1), row(2, concept="Gas\x00"), row(3)])
    with pytest.raises(ImportError_) as info:
        import_bills("insesp", path)
    assert info.value.report.errors == ["línea 3: la línea contiene un carácter nulo (0x00)"]
    endless = tmp_path / "endless.csv"
    endless.write_text(",".join(COLUMNS) + "\n" + "x" * 250_000, encoding="utf-8")
    report = validate_file("insesp", endless)
    assert report.fatal == "la línea tiene más de 100.000 caracteres: no es un CSV de facturas"
    assert report.errors == [f"línea 2: {report.fatal}"]


def test_a_quoted_field_over_the_csv_limit_is_a_line_error(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1), row(2)])
    with path.open("a", encoding="utf-8") as fh:
        fh.write('B-9,1,,"' + ("y" * 60_000 + "\n") * 3 + '",Ana,,,,1,0,,,,2030-01-31,\n')
    report = validate_file("insesp", path)
    assert report.fatal is None and report.invalid >= 1
    assert report.errors[0] == (
        "línea 6: no se puede leer como CSV: un campo tiene más de 131.072 caracteres "
        "(¿unas comillas sin cerrar?)"
    )


# --- C: short transactions, so payments and events are not kept waiting ----------------------


def test_batches_are_separate_transactions(app, tmp_path, monkeypatch, database_url):
    monkeypatch.setattr(importer, "BATCH", 3)
    monkeypatch.setattr(importer, "SQLITE_PAUSE_SECONDS", 0)
    outside = create_engine(database_url, poolclass=NullPool)
    seen_outside = []
    transactions = []
    real = importer._write_batch

    def spy(tenant, rows, lines, report):
        transactions.append(db.session().get_transaction())
        # Another connection sees the batches committed so far while this one is written.
        with outside.connect() as conn:
            seen_outside.append(conn.execute(select(func.count()).select_from(Bill)).scalar())
        return real(tenant, rows, lines, report)

    monkeypatch.setattr(importer, "_write_batch", spy)
    path = write(tmp_path / "b.csv", [row(i) for i in range(1, 11)])
    try:
        import_bills("insesp", path)
    finally:
        outside.dispose()
    assert seen_outside == [0, 3, 6, 9]
    assert len({id(t) for t in transactions}) == 4
    assert latest_import().batches == 4 and count() == 10


def test_on_postgresql_a_batch_prices_index_probes_for_itself_only(app, tmp_path, monkeypatch):
    """The batch's joins probe bills' unique index per line (at the default random_page_cost
    PostgreSQL read the whole table per statement instead); the setting ends with the batch,
    never left on the pooled connection for the requests that use it next."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner setting")
    monkeypatch.setattr(importer, "BATCH", 3)
    default = db.session.execute(db.text("SHOW random_page_cost")).scalar_one()
    db.session.commit()
    inside = []
    real = importer._write_batch

    def spy(tenant, rows, lines, report):
        real(tenant, rows, lines, report)
        inside.append(db.session.execute(db.text("SHOW random_page_cost")).scalar_one())

    monkeypatch.setattr(importer, "_write_batch", spy)
    import_bills("insesp", write(tmp_path / "b.csv", [row(i) for i in range(1, 8)]))
    assert inside == ["1.1"] * 3 and count() == 7
    assert db.session.execute(db.text("SHOW random_page_cost")).scalar_one() == default != "1.1"


def test_progress_moves_with_every_batch(app, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 2)
    monkeypatch.setattr(importer, "SQLITE_PAUSE_SECONDS", 0)
    seen = []
    real = importer._write_batch

    def spy(tenant, rows, lines, report):
        # What a progress bar reads at this moment (the previous batches' commits).
        seen.append(db.session.scalar(select(BillImport.processed_rows)))
        return real(tenant, rows, lines, report)

    monkeypatch.setattr(importer, "_write_batch", spy)
    path = write(tmp_path / "b.csv", [row(i) for i in range(1, 6)])
    record = prepare_import("insesp", path, created_by="ana@insesp.test")
    assert record.total_rows == 5 and record.processed_rows == 0 and record.progress == 0.0
    queue_import("insesp", record.id)
    record = run_import("insesp", record.id)
    assert seen == [0, 2, 4]
    assert (record.status, record.processed_rows, record.progress) == ("done", 5, 1.0)
    assert record.started_at <= record.finished_at


def test_a_run_stopped_half_way_keeps_whole_batches_and_a_rerun_gives_the_same(
    app, tmp_path, monkeypatch
):
    monkeypatch.setattr(importer, "BATCH", 3)
    monkeypatch.setattr(importer, "SQLITE_PAUSE_SECONDS", 0)
    rows = [row(i, amount=str(1000 + i)) for i in range(1, 11)]
    path = write(tmp_path / "b.csv", rows)
    real = importer._write_batch
    calls = []

    def crash_on_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(*args)

    monkeypatch.setattr(importer, "_write_batch", crash_on_third)
    with pytest.raises(ImportRunFailed, match="se detuvo después de 2 lotes"):
        import_bills("insesp", path)
    record = latest_import()
    assert (record.status, record.processed_rows, record.created) == ("failed", 6, 6)
    assert "Ejecútela de nuevo" in record.message and count() == 6

    monkeypatch.setattr(importer, "_write_batch", real)
    record = run_import("insesp", record.id)  # a failed load runs again from the start
    assert (record.status, record.created, record.unchanged) == ("done", 4, 6)
    import_bills("interservicios", path)  # the same file in one clean run

    def bills_of(tenant):
        db.session.expire_all()
        return [
            (b.bill_number, b.amount_cents, b.state, b.client_number)
            for b in db.session.scalars(
                select(Bill).where(Bill.tenant == tenant).order_by(Bill.bill_number)
            )
        ]

    assert bills_of("insesp") == bills_of("interservicios") and count() == 10


def big_file(path, rows: int):
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i in range(rows):
            out.writerow(
                (
                    *(f"FG-{i:08d}", f"{20000 + i}", "", "Factura del Gas", "Ana", "Pérez"),
                    *(f"ana{i}@correo.test", "3001234567", str(10_000 + i), "0", "COP"),
                    *("2026-11", "2026-11-01", "2026-11-30", "unpaid"),
                )
            )
    return path


def test_other_writers_get_in_during_a_big_import(make_app, tmp_path):
    """20,000 rows on SQLite: a payment's short write waits a batch at most, never the import."""
    app = make_app()
    with app.app_context():
        from tests.conftest import _empty_tables

        _empty_tables()
    path = big_file(tmp_path / "big.csv", 20_000)
    done = threading.Event()
    timings: dict = {}
    waits: list[float] = []
    failures: list[BaseException] = []

    def load():
        with app.app_context():
            try:
                started = time.monotonic()
                timings["report"] = import_bills("insesp", path)
                timings["seconds"] = time.monotonic() - started
            except BaseException as exc:  # reported by the test below
                failures.append(exc)
            finally:
                db.session.remove()
                done.set()

    def short_writes():
        with app.app_context():
            try:
                i = 0
                while not done.is_set():
                    i += 1
                    asked = time.monotonic()
                    with write_unit():
                        db.session.merge(GatewayCache(key="probe", value=str(i)))
                    waits.append(time.monotonic() - asked)
                    time.sleep(0.01)
            except BaseException as exc:
                failures.append(exc)
            finally:
                db.session.remove()

    loader = threading.Thread(target=load)
    writer = threading.Thread(target=short_writes)
    writer.start()
    time.sleep(0.05)
    loader.start()
    loader.join(60)
    writer.join(60)
    assert not failures, failures
    report = timings["report"]
    assert report.written == 20_000 and report.batches >= 4
    assert len(waits) >= 10
    # One transaction for the whole file would keep the writer waiting for most of the import.
    assert max(waits) < min(2.0, timings["seconds"] / 3), (max(waits), timings["seconds"])


# --- D: the record of every load, for the staff area ------------------------------------------


def test_prepare_validates_without_writing_and_reports_every_bad_line(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1), row(2, amount="abc"), row(3, due_on="mañana")])
    record = prepare_import("insesp", path, filename="enero.csv", created_by="ana@insesp.test")
    assert count() == 0
    assert (record.status, record.filename, record.created_by) == (
        "validated",
        "enero.csv",
        "ana@insesp.test",
    )
    assert (record.total_rows, record.invalid, record.importable) == (3, 2, False)
    assert record.error_list == [
        {
            "line": 3,
            "field": "amount",
            "message": "'amount' debe ser un valor en pesos como 18000 o 18000.50",
        },
        {
            "line": 4,
            "field": "due_on",
            "message": "'due_on' debe ser una fecha AAAA-MM-DD o DD/MM/AAAA",
        },
    ]
    with pytest.raises(ImportRefused, match="2 líneas inválidas"):
        queue_import("insesp", record.id)
    record = queue_import("insesp", record.id, skip_invalid=True)
    assert record.status == "queued"
    record = run_import("insesp", record.id)
    assert (record.status, record.created, record.invalid) == ("done", 1, 2) and count() == 1


def test_counts_add_up_to_the_lines_of_the_file(app, tmp_path, insesp):
    path = write(tmp_path / "b.csv", [row(1), row(2), row(3)])
    import_bills("insesp", path)
    open_pse_attempt(insesp, bill("B-3"))
    lines = [row(1), row(2, amount="1"), row(3, amount="2"), row(4), row(4, amount="5"), row(5)]
    write(path, [*lines, row(6, vat="x")])
    report = import_bills("insesp", path, skip_invalid=True)
    record = latest_import()
    counts = (record.created, record.updated, record.unchanged, record.held, record.repeated)
    assert counts == (2, 1, 1, 1, 1) and record.invalid == 1
    assert sum(counts) + record.invalid == record.total_rows == 7
    assert bill("B-4").amount_cents == 500  # the last line of a bill wins
    assert report.summary().startswith(
        "b.csv: 7 filas, 3 escritas (2 nuevas, 1 actualizadas), 1 sin cambios, "
        "1 no modificadas (en proceso de pago o pagadas), 1 repetidas, 1 inválidas"
    )


def test_an_unchanged_reimport_rewrites_nothing(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1), row(2, state="paid")])
    import_bills("insesp", path)
    before = bill("B-1").updated_at
    report = import_bills("insesp", path)
    assert (report.written, report.unchanged, report.held) == (0, 2, 0)
    assert bill("B-1").updated_at == before


def test_cli_records_its_runs(runner, tmp_path):
    good = write(tmp_path / "good.csv", [row(1), row(2)])
    result = runner.invoke(args=["bills", "import", "insesp", str(good)])
    assert result.exit_code == 0, result.output
    record = latest_import()
    assert (record.created_by, record.status, record.filename) == ("cli", "done", "good.csv")
    assert (record.total_rows, record.processed_rows, record.created) == (2, 2, 2)
    bad = write(tmp_path / "bad.csv", [row(3, amount="abc")])
    result = runner.invoke(args=["bills", "import", "insesp", str(bad)])
    assert result.exit_code == 1
    record = latest_import()
    assert (record.created_by, record.status, record.invalid) == ("cli", "failed", 1)
    assert record.message == "1 líneas inválidas: nada importado"


def test_errors_kept_are_the_first_200_and_the_counts_are_complete(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(i, amount="x") for i in range(250)])
    record = prepare_import("insesp", path)
    assert record.invalid == 250 and len(record.error_list) == 200
    assert record.error_list[-1]["line"] == 201
    with pytest.raises(ImportError_) as info:
        import_bills("insesp", path)
    assert info.value.report.summary().endswith("... y 50 errores más")


def test_run_refuses_a_file_changed_since_it_was_validated(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1)])
    record = prepare_import("insesp", path)
    queue_import("insesp", record.id)
    write(path, [row(1, amount="1")])
    record = run_import("insesp", record.id)
    assert record.status == "failed" and "cambió" in record.message and count() == 0


def test_run_twice_runs_once_and_state_moves_are_checked(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1)])
    record = prepare_import("insesp", path)
    assert run_import("insesp", record.id).status == "validated"  # not confirmed yet: untouched
    queue_import("insesp", record.id)
    first = run_import("insesp", record.id)
    finished = first.finished_at
    again = run_import("insesp", record.id)  # a job delivered twice
    assert again.status == "done" and again.finished_at == finished and again.created == 1
    with pytest.raises(ImportRefused, match="ya está terminada"):
        queue_import("insesp", record.id)


def test_a_run_that_died_is_taken_over_once_stale(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1)])
    record = prepare_import("insesp", path)
    queue_import("insesp", record.id)
    with write_unit():
        db.session.execute(
            update(BillImport).where(BillImport.id == record.id).values(status="running")
        )
    assert run_import("insesp", record.id).status == "running"  # moving: someone has it
    with write_unit():
        db.session.execute(
            update(BillImport)
            .where(BillImport.id == record.id)
            .values(updated_at=utcnow() - importer.STALE_AFTER * 2)
        )
    assert run_import("insesp", record.id).status == "done" and count() == 1


def test_imports_belong_to_one_company(app, tmp_path):
    path = write(tmp_path / "b.csv", [row(1)])
    record = prepare_import("insesp", path)
    assert get_import("interservicios", record.id) is None
    assert list_imports("interservicios") == []
    with pytest.raises(ImportRefused, match="No existe"):
        queue_import("interservicios", record.id)
    with pytest.raises(ImportRefused, match="No existe"):
        run_import("interservicios", record.id)
    assert [r.id for r in list_imports("insesp")] == [record.id]


def test_no_hold_is_left_or_taken_by_an_import(app, tmp_path, insesp):
    path = write(tmp_path / "b.csv", [row(1)])
    import_bills("insesp", path)
    assert db.session.scalar(select(func.count()).select_from(BillHold)) == 0
