"""Operator commands (`staff create|disable`), the demo's staff users, and the overview,
users and audit pages."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from gaspay.extensions import db
from gaspay.staff import auth
from gaspay.staff.models import StaffAudit, StaffUser
from tests.conftest import csrf_from
from tests.staff.conftest import PASSWORD, code, fresh, make_staff, page_csrf, sign_in


def test_staff_create_prints_a_one_time_enrolment_link(app, runner, client):
    result = runner.invoke(
        args=["staff", "create", "insesp", "Jefe@Insesp.test", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    link = re.search(r"https?://\S+/insesp/empresa/activar/(\S+)", result.output)
    assert link, result.output
    user = db.session.scalars(select(StaffUser)).one()
    assert user.email == "jefe@insesp.test" and user.role == "admin" and user.password_hash is None
    page = client.get(f"/insesp/empresa/activar/{link.group(1)}")
    assert page.status_code == 200
    again = runner.invoke(args=["staff", "create", "insesp", "jefe@insesp.test", "--role", "admin"])
    assert again.exit_code == 1 and "Ya existe" in again.output
    bad_role = runner.invoke(args=["staff", "create", "insesp", "x@insesp.test", "--role", "jefe"])
    assert bad_role.exit_code != 0
    other = runner.invoke(args=["staff", "create", "nadie", "x@x.test", "--role", "admin"])
    assert other.exit_code != 0 and "not configured" in other.output


def test_staff_disable(app, runner):
    make_staff(role="admin", email="a@insesp.test")
    make_staff(role="consulta", email="c@insesp.test")
    result = runner.invoke(args=["staff", "disable", "insesp", "c@insesp.test"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    user = db.session.scalars(select(StaffUser).where(StaffUser.email == "c@insesp.test")).one()
    assert user.disabled_at is not None
    missing = runner.invoke(args=["staff", "disable", "insesp", "z@insesp.test"])
    assert missing.exit_code == 1


def test_demo_load_creates_the_demo_staff_once(app, runner, client):
    for _ in range(2):
        result = runner.invoke(args=["demo", "load"])
        assert result.exit_code == 0, result.output
    db.session.rollback()
    emails = db.session.scalars(select(StaffUser.email).order_by(StaffUser.email)).all()
    assert emails == [
        "admin@gasnova.test",
        "admin@insesp.test",
        "admin@interservicios.test",
        "consulta@gasnova.test",
        "consulta@insesp.test",
        "consulta@interservicios.test",
    ]
    admin = db.session.scalars(
        select(StaffUser).where(StaffUser.email == "admin@insesp.test")
    ).one()
    assert admin.role == "admin" and admin.totp_secret == "JBSWY3DPEHPK3PXP"
    # The README's demo login works: password, then the code of the demo secret.
    base = "/insesp/empresa"
    token = csrf_from(client.get(f"{base}/ingresar").get_data(as_text=True))
    client.post(
        f"{base}/ingresar",
        data={"csrf_token": token, "email": "consulta@insesp.test", "password": auth.DEMO_PASSWORD},
    )
    page = client.get(f"{base}/verificar").get_data(as_text=True)
    done = client.post(
        f"{base}/verificar",
        data={"csrf_token": csrf_from(page), "code": code("JBSWY3DPEHPK3PXP")},
    )
    assert done.status_code == 303 and done.headers["Location"] == f"{base}/"


def test_demo_load_is_refused_in_production(make_app):
    app = make_app()
    app.config["PRODUCTION"] = True
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code != 0 and "development only" in result.output


def test_overview_shows_the_numbers_and_the_chart(client, app, approved, insesp):
    approved(insesp, amount_cents=1_800_000)
    sign_in(client, make_staff(role="consulta"))
    html = client.get("/insesp/empresa/").get_data(as_text=True)
    assert "Recaudado hoy" in html and "$ 18.000" in html
    assert "Pendientes ahora" in html and "En revisión" in html
    assert 'src="/insesp/empresa/resumen/grafica.svg"' in html
    chart = client.get("/insesp/empresa/resumen/grafica.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    svg = chart.get_data(as_text=True)
    assert "<svg" in svg and "pygal" in svg and "<script" not in svg
    assert "Recaudo diario" in svg
    assert "script-src" not in chart.headers["Content-Security-Policy"]


def test_admin_creates_resets_and_disables_users(client, app):
    admin = make_staff(role="admin")
    sign_in(client, admin)
    token = page_csrf(client, "/insesp/empresa/usuarios")
    created = client.post(
        "/insesp/empresa/usuarios",
        data={"csrf_token": token, "email": "op@insesp.test", "nombre": "Op", "rol": "operador"},
    )
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and "/insesp/empresa/activar/" in html
    db.session.rollback()
    user = db.session.scalars(select(StaffUser).where(StaffUser.email == "op@insesp.test")).one()
    enrolled = make_staff(role="consulta", email="c2@insesp.test")
    old_token = enrolled.session_token
    client.post(
        f"/insesp/empresa/usuarios/{enrolled.id}/segundo-factor", data={"csrf_token": token}
    )
    reset = fresh(enrolled)
    assert reset.totp_secret is None and reset.session_token != old_token
    client.post(f"/insesp/empresa/usuarios/{user.id}/desactivar", data={"csrf_token": token})
    assert fresh(user).disabled_at is not None
    client.post(f"/insesp/empresa/usuarios/{user.id}/reactivar", data={"csrf_token": token})
    assert fresh(user).disabled_at is None
    audit = client.get("/insesp/empresa/auditoria").get_data(as_text=True)
    for label in ("Usuario creado", "Segundo factor restablecido", "Usuario desactivado"):
        assert label in audit
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(StaffAudit)) >= 4
    assert PASSWORD
