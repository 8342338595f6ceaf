"""Bills in the staff area: search, and the upload (validated whole, then confirmed; a large
file queued for the background and followed with a progress page)."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from gaspay.billing.models import Bill, BillImport
from gaspay.extensions import db
from tests.staff.conftest import STAFF_CONFIG, make_staff, page_csrf, sign_in

BASE = "/insesp/empresa"
HEADER = "bill_number,client_number,concept,first_name,amount,due_on\n"
GOOD = (
    HEADER
    + "FG-1,0021090,Factura del Gas,Ana,18000,2030-01-31\nFG-2,0021091,Gas,Luis,9000,2030-01-31\n"
)
BAD = GOOD + "FG-3,0021092,Gas,Eva,dieciocho,2030-01-31\nFG-4,,Gas,Sol,1000,2030-01-31\n"


def bills_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Bill))


def upload(client, text: str, name: str = "facturas.csv"):
    token = page_csrf(client, f"{BASE}/facturas/cargar")
    return client.post(
        f"{BASE}/facturas/cargar",
        data={"csrf_token": token, "archivo": (io.BytesIO(text.encode()), name)},
        content_type="multipart/form-data",
    )


def test_a_bad_file_is_shown_line_by_line_and_nothing_is_written(client, app):
    sign_in(client, make_staff(role="admin"))
    response = upload(client, BAD)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Validada, sin confirmar" in page
    assert "Líneas con error" in page and ">4<" in page and ">5<" in page
    assert "amount" in page and "18000" in page  # the field and a Spanish explanation
    assert bills_count() == 0
    assert "Importar solo las líneas válidas" in page
    # Confirming without skipping the bad lines is refused, in Spanish.
    token = page_csrf(client, response.headers["Location"])
    import_id = int(response.headers["Location"].rsplit("/", 1)[1])
    refused = client.post(
        f"{BASE}/facturas/cargas/{import_id}/confirmar", data={"csrf_token": token}
    )
    assert "líneas inválidas" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert bills_count() == 0
    done = client.post(
        f"{BASE}/facturas/cargas/{import_id}/confirmar", data={"csrf_token": token, "omitir": "y"}
    )
    assert "La carga terminó." in client.get(done.headers["Location"]).get_data(as_text=True)
    assert bills_count() == 2


def test_a_good_file_imports_after_confirmation_and_shows_in_the_history(client, app):
    admin = make_staff(role="admin")
    sign_in(client, admin)
    response = upload(client, GOOD)
    location = response.headers["Location"]
    page = client.get(location).get_data(as_text=True)
    assert "El archivo no tiene errores" in page and bills_count() == 0
    token = page_csrf(client, location)
    import_id = int(location.rsplit("/", 1)[1])
    client.post(f"{BASE}/facturas/cargas/{import_id}/confirmar", data={"csrf_token": token})
    assert bills_count() == 2
    history = client.get(f"{BASE}/facturas").get_data(as_text=True)
    assert "facturas.csv" in history and admin.email in history and "Terminada" in history
    found = client.get(f"{BASE}/facturas?q=0021090").get_data(as_text=True)
    assert "FG-1" in found and "FG-2" not in found


def test_a_large_file_goes_to_the_background_with_a_progress_page(make_app, app, runner):
    big = make_app(**{**STAFF_CONFIG, "STAFF_DIRECT_IMPORT_ROWS": 1}).test_client()
    sign_in(big, make_staff(role="admin"))
    location = upload(big, GOOD).headers["Location"]
    import_id = int(location.rsplit("/", 1)[1])
    token = page_csrf(big, location)
    big.post(f"{BASE}/facturas/cargas/{import_id}/confirmar", data={"csrf_token": token})
    page = big.get(location).get_data(as_text=True)
    assert "En cola" in page and bills_count() == 0
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page  # no JS
    fragment = big.get(location, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.startswith('<section id="progreso"') and 'hx-trigger="every 2s"' in fragment
    assert "<progress" in fragment
    # The worker runs it: a "bill_import" outbox message.
    from gaspay.outbox import OutboxMessage, run_pending

    db.session.rollback()
    job = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "bill_import")).one()
    assert job.tenant == "insesp" and f'"import_id":{import_id}' in job.payload
    assert run_pending(["bill_import"])
    assert bills_count() == 2
    done = big.get(location, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in done and "100 %" in done  # final: the polling stops


def test_upload_refuses_what_is_not_a_csv(client, app):
    sign_in(client, make_staff(role="admin"))
    response = upload(client, GOOD, name="facturas.xlsx")
    assert response.status_code == 422
    assert "El archivo debe ser un CSV" in response.get_data(as_text=True)
    token = page_csrf(client, f"{BASE}/facturas/cargar")
    empty = client.post(f"{BASE}/facturas/cargar", data={"csrf_token": token})
    assert empty.status_code == 422 and "Seleccione el archivo" in empty.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(BillImport)) == 0


def test_a_non_utf8_file_is_explained(client, app):
    sign_in(client, make_staff(role="admin"))
    token = page_csrf(client, f"{BASE}/facturas/cargar")
    response = client.post(
        f"{BASE}/facturas/cargar",
        data={
            "csrf_token": token,
            "archivo": (
                io.BytesIO((HEADER + "FG-1,1,Gas,Muñoz,1,2030-01-01\n").encode("latin-1")),
                "f.csv",
            ),
        },
        content_type="multipart/form-data",
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "UTF-8" in page and "Confirmar e importar" not in page


def test_run_imports_picks_up_a_queued_load_without_its_message(app, runner, tmp_path):
    from gaspay.billing import importer

    path = tmp_path / "f.csv"
    path.write_text(GOOD)
    record = importer.prepare_import("insesp", path, created_by="t")
    importer.queue_import("insesp", record.id)
    result = runner.invoke(args=["staff", "run-imports"])
    assert result.exit_code == 0 and "done" in result.output
    assert bills_count() == 2
