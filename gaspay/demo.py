"""Demo data for `make run`: loaded through the same importer as real files, idempotently.

Due dates are computed from today (so the demo bill is never overdue) and written into a CSV
under instance/, which is then imported like any utility's file.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from gaspay.billing.importer import COLUMNS, ImportReport, import_bills
from gaspay.timeutil import today_in_bogota

DEMO_CUSTOMER = {
    "tenant": "interservicios",
    "email": "cliente@interservicios.test",
    "password": "pago-seguro-2026",
    "full_name": "Cliente Demo",
    "clients": ["100245", "100246"],
}


def _row(**values) -> dict:
    row = dict.fromkeys(COLUMNS, "")
    row.update(currency="COP", vat="0", state="unpaid")
    row.update(values)
    return row


def demo_rows(today: dt.date) -> dict[str, list[dict]]:
    month = today.strftime("%Y-%m")
    due = (today + dt.timedelta(days=20)).isoformat()
    due_soon = (today + dt.timedelta(days=5)).isoformat()
    past = (today - dt.timedelta(days=40)).isoformat()
    insesp = [
        _row(
            bill_number="FG-0021053-DEMO",
            client_number="0021053",
            payment_reference="0021053",
            concept="Factura del Gas",
            first_name="Usuario",
            last_name="Demo",
            email="usuario.demo@correo.test",
            phone="6472050",
            amount="18000",
            period=month,
            issued_on=today.isoformat(),
            due_on=due,
        ),
        _row(
            bill_number="FG-0021054-DEMO",
            client_number="0021054",
            concept="Factura del Gas",
            first_name="Marta",
            last_name="Rincón",
            email="marta.rincon@correo.test",
            phone="3104567890",
            amount="42350",
            vat="0",
            period=month,
            due_on=due,
        ),
        _row(
            bill_number="FG-0021055-DEMO",
            client_number="0021055",
            concept="Factura del Gas",
            first_name="Jorge",
            last_name="Pardo",
            phone="3201112233",
            amount="27900",
            period=month,
            due_on=due,
            state="paid",
        ),
        _row(
            bill_number="FG-0021056-DEMO-A",
            client_number="0021056",
            concept="Factura del Gas",
            first_name="Luz",
            last_name="Gómez",
            amount="31200",
            period=month,
            due_on=due_soon,
        ),
        _row(
            bill_number="FG-0021056-DEMO-B",
            client_number="0021056",
            concept="Financiación acometida",
            first_name="Luz",
            last_name="Gómez",
            amount="55000",
            vat="8782",
            period=month,
            due_on=due,
        ),
        _row(
            bill_number="FG-0021057-DEMO",
            client_number="0021057",
            concept="Factura del Gas",
            first_name="Pedro",
            last_name="Ruiz",
            amount="19800",
            period="vencido",
            due_on=past,
        ),
    ]
    interservicios = [
        _row(
            bill_number="AV-100245-01",
            client_number="100245",
            concept="Aviso de cobro aseo",
            first_name="Cliente",
            last_name="Demo",
            email=DEMO_CUSTOMER["email"],
            phone="3001234567",
            amount="44900",
            period="anterior",
            due_on=(today - dt.timedelta(days=10)).isoformat(),
            state="paid",
        ),
        _row(
            bill_number="AV-100245-02",
            client_number="100245",
            concept="Aviso de cobro aseo",
            first_name="Cliente",
            last_name="Demo",
            email=DEMO_CUSTOMER["email"],
            phone="3001234567",
            amount="46300",
            period=month,
            due_on=due,
        ),
        _row(
            bill_number="AV-100246-01",
            client_number="100246",
            concept="Aviso de cobro acueducto",
            first_name="Cliente",
            last_name="Demo",
            email=DEMO_CUSTOMER["email"],
            phone="3001234567",
            amount="61250",
            vat="0",
            period=month,
            due_on=due_soon,
        ),
    ]
    gasnova = [  # the PlacetoPay demo: guest lookup, like Insesp
        _row(
            bill_number="GN-0031001-DEMO",
            client_number="0031001",
            payment_reference="0031001",
            concept="Factura del Gas",
            first_name="Usuaria",
            last_name="Demo",
            email="usuaria.demo@correo.test",
            phone="3007654321",
            amount="23400",
            period=month,
            issued_on=today.isoformat(),
            due_on=due,
        ),
        _row(
            bill_number="GN-0031002-DEMO",
            client_number="0031002",
            concept="Factura del Gas",
            first_name="Pedro",
            last_name="Salas",
            email="pedro.salas@correo.test",
            phone="3109876543",
            amount="51800",
            period=month,
            due_on=due_soon,
        ),
    ]
    return {"insesp": insesp, "interservicios": interservicios, "gasnova": gasnova}


def write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def load_demo(instance_path: str, tenants: set[str]) -> list[ImportReport]:
    reports = []
    for slug, rows in demo_rows(today_in_bogota()).items():
        if slug in tenants:
            path = write_csv(Path(instance_path) / "demo" / f"{slug}.csv", rows)
            reports.append(import_bills(slug, path, created_by="demo"))
    return reports
