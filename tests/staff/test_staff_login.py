"""Staff login: "Ingresar" then "Verificar" (TOTP), enrolment with a QR code, the session's
scope (one tenant, its own key), logout, idle timeout, lock-out, replayed codes, demo secrets."""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from gaspay.extensions import db
from gaspay.staff import auth, services
from gaspay.staff.models import StaffAudit, StaffUser
from tests.conftest import csrf_from
from tests.staff.conftest import PASSWORD, code, fresh, login, make_staff, sign_in

BASE = "/insesp/empresa"


def actions(tenant="insesp") -> list[str]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(StaffAudit.action).where(StaffAudit.tenant == tenant).order_by(StaffAudit.id)
        )
    )


def test_login_page_has_the_contract_labels_and_no_inline_script(client):
    page = client.get(f"{BASE}/ingresar")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<label for="email">Correo electrónico</label>' in html
    assert '<label for="password">Contraseña</label>' in html
    assert ">Ingresar</button>" in html
    assert "<script>" not in html and "style=" not in html
    assert page.headers["Cache-Control"] == "no-store"


def test_password_then_totp_code_opens_the_staff_area(client, staff):
    user = staff(role="admin")
    base = BASE
    token = csrf_from(client.get(f"{base}/ingresar").get_data(as_text=True))
    first = client.post(
        f"{base}/ingresar", data={"csrf_token": token, "email": user.email, "password": PASSWORD}
    )
    assert first.status_code == 303 and first.headers["Location"].startswith(f"{base}/verificar")
    # Half-way (password only), nothing of the area opens.
    assert client.get(f"{base}/pagos").status_code == 303
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    assert '<label for="code">Código de verificación</label>' in page
    assert ">Verificar</button>" in page
    assert "Código QR" not in page  # already enrolled
    done = client.post(
        f"{base}/verificar", data={"csrf_token": csrf_from(page), "code": code(user.totp_secret)}
    )
    assert done.status_code == 303 and done.headers["Location"] == f"{base}/"
    home = client.get(f"{base}/")
    assert home.status_code == 200
    html = home.get_data(as_text=True)
    assert "Este es su primer acceso." in html and "Resumen" in html
    assert actions() == ["login"]
    assert fresh(user).last_login_at is not None


def test_the_last_access_is_shown_on_entry(client, staff):
    user = staff()
    login(client, user)
    first_login = fresh(user).last_login_at
    client.post(f"{BASE}/salir", data={"csrf_token": csrf_from(client.get(f"{BASE}/").text)})
    response = login(client, user, steps_ahead=1, follow=True)
    assert "Su último acceso fue el" in response.get_data(as_text=True)
    assert fresh(user).previous_login_at == first_login


def test_wrong_password_and_unknown_email_answer_alike(client, staff):
    user = staff()
    answers = []
    for email, password in ((user.email, "otra-clave-equivocada"), ("nadie@insesp.test", "x" * 14)):
        token = csrf_from(client.get(f"{BASE}/ingresar").get_data(as_text=True))
        response = client.post(
            f"{BASE}/ingresar", data={"csrf_token": token, "email": email, "password": password}
        )
        assert response.status_code == 422
        answers.append(response.get_data(as_text=True).split('role="alert">')[1].split("<")[0])
    assert answers[0] == answers[1] and "no son correctos" in answers[0]
    assert fresh(user).failed_logins == 1
    assert actions() == ["login_failed", "login_failed"]


def test_wrong_code_is_refused_and_counted(client, staff):
    user = staff()
    token = csrf_from(client.get(f"{BASE}/ingresar").get_data(as_text=True))
    client.post(
        f"{BASE}/ingresar", data={"csrf_token": token, "email": user.email, "password": PASSWORD}
    )
    page = client.get(f"{BASE}/verificar").get_data(as_text=True)
    wrong = "000000" if code(user.totp_secret) != "000000" else "111111"
    response = client.post(f"{BASE}/verificar", data={"csrf_token": csrf_from(page), "code": wrong})
    assert response.status_code == 422
    assert "El código no es correcto" in response.get_data(as_text=True)
    assert fresh(user).failed_logins == 1
    assert client.get(f"{BASE}/pagos").status_code == 303


def test_a_code_is_accepted_once(client, make_app, staff):
    user = staff()
    assert login(client, user).status_code == 303
    other = make_app(STAFF_ARGON2={"time_cost": 1, "memory_cost": 1024, "parallelism": 1})
    second = other.test_client()
    token = csrf_from(second.get(f"{BASE}/ingresar").get_data(as_text=True))
    second.post(
        f"{BASE}/ingresar", data={"csrf_token": token, "email": user.email, "password": PASSWORD}
    )
    page = second.get(f"{BASE}/verificar").get_data(as_text=True)
    # The very code the first login used (same 30-second step): refused.
    replay = second.post(
        f"{BASE}/verificar", data={"csrf_token": csrf_from(page), "code": code(user.totp_secret)}
    )
    assert replay.status_code == 422


def test_first_login_enrols_the_authenticator_with_a_qr_code(client, app):
    enrolment = services.create_user("insesp", "nueva@insesp.test", "operador", created_by="t")
    page = client.get(f"{BASE}/activar/{enrolment.token}")
    assert page.status_code == 200 and "nueva@insesp.test" in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    saved = client.post(
        f"{BASE}/activar/{enrolment.token}",
        data={"csrf_token": token, "password": PASSWORD, "confirm": PASSWORD},
    )
    assert saved.status_code == 303
    # The link is single-use.
    assert client.get(f"{BASE}/activar/{enrolment.token}").status_code == 404
    token = csrf_from(client.get(f"{BASE}/ingresar").get_data(as_text=True))
    client.post(
        f"{BASE}/ingresar",
        data={"csrf_token": token, "email": "nueva@insesp.test", "password": PASSWORD},
    )
    page = client.get(f"{BASE}/verificar").get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in page and "Código QR" in page
    user = fresh(enrolment.user)
    assert user.totp_secret is None and user.totp_pending
    assert user.totp_pending[:4] in page  # the key, for typing it by hand
    done = client.post(
        f"{BASE}/verificar", data={"csrf_token": csrf_from(page), "code": code(user.totp_pending)}
    )
    assert done.status_code == 303
    user = fresh(user)
    assert user.totp_secret and user.totp_pending is None
    assert "totp_enrolled" in actions() and "activated" in actions()


def test_activation_refuses_short_and_demo_passwords(client, app):
    enrolment = services.create_user("insesp", "x@insesp.test", "consulta", created_by="t")
    url = f"{BASE}/activar/{enrolment.token}"
    for password, message in (("corta", "entre 12"), (auth.DEMO_PASSWORD, "demostración")):
        token = csrf_from(client.get(url).get_data(as_text=True))
        response = client.post(
            url, data={"csrf_token": token, "password": password, "confirm": password}
        )
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert fresh(enrolment.user).password_hash is None


def test_logout_is_a_post_and_kills_the_old_cookie(client, staff):
    user = staff()
    login(client, user)
    with client.session_transaction() as sess:
        copied = dict(sess[auth.SESSION_KEY])
    assert client.get(f"{BASE}/salir").status_code == 405
    token = csrf_from(client.get(f"{BASE}/").get_data(as_text=True))
    out = client.post(f"{BASE}/salir", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["Location"] == f"{BASE}/ingresar"
    assert client.get(f"{BASE}/").status_code == 303
    with client.session_transaction() as sess:
        sess[auth.SESSION_KEY] = copied  # an attacker's copy of the cookie
    assert client.get(f"{BASE}/").status_code == 303
    assert actions()[-1] == "logout"


def test_a_staff_session_is_nothing_under_another_tenant(client, staff):
    user = staff(tenant="insesp")
    login(client, user)
    assert client.get("/insesp/empresa/pagos").status_code == 200
    other = client.get("/interservicios/empresa/pagos")
    assert other.status_code == 303
    assert other.headers["Location"].startswith("/interservicios/empresa/ingresar")


def test_a_customer_session_never_opens_the_staff_area(client, app):
    from gaspay.accounts.services import create_customer

    create_customer("interservicios", "cliente@correo.test", "pago-seguro-2026")
    token = csrf_from(client.get("/interservicios/clientes/entrar").get_data(as_text=True))
    logged = client.post(
        "/interservicios/clientes/entrar",
        data={"csrf_token": token, "email": "cliente@correo.test", "password": "pago-seguro-2026"},
    )
    assert logged.status_code == 303
    response = client.get("/interservicios/empresa/")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/interservicios/empresa/ingresar")


def test_idle_for_30_minutes_ends_the_session(client, staff, monkeypatch):
    user = staff()
    login(client, user)
    assert client.get(f"{BASE}/pagos").status_code == 200
    real = time.time
    monkeypatch.setattr(auth.time, "time", lambda: real() + 29 * 60)
    assert client.get(f"{BASE}/pagos").status_code == 200  # activity restarts the clock
    monkeypatch.setattr(auth.time, "time", lambda: real() + 29 * 60 + 31 * 60)
    response = client.get(f"{BASE}/pagos")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "30 minutos de inactividad" in page
    monkeypatch.setattr(auth.time, "time", real)
    assert client.get(f"{BASE}/pagos").status_code == 303  # gone for good


def test_five_failures_lock_the_account_even_for_the_right_password(client, staff):
    user = staff()
    for _ in range(services.MAX_FAILURES):
        token = csrf_from(client.get(f"{BASE}/ingresar").get_data(as_text=True))
        client.post(
            f"{BASE}/ingresar",
            data={"csrf_token": token, "email": user.email, "password": "equivocada-123"},
        )
    locked = fresh(user)
    assert locked.locked_until is not None and locked.failed_logins == 0
    token = csrf_from(client.get(f"{BASE}/ingresar").get_data(as_text=True))
    right = client.post(
        f"{BASE}/ingresar", data={"csrf_token": token, "email": user.email, "password": PASSWORD}
    )
    assert right.status_code == 422
    assert "locked" in actions()


def test_lock_out_is_atomic_under_parallel_guesses(app, staff):
    """Twelve wrong guesses at once: exactly one locks the account; none counts twice."""
    user = staff()
    user_id = user.id  # read here: the threads never touch this test's session
    now = services.utcnow()

    def guess(_):
        with app.app_context():
            target = db.session.get(StaffUser, user_id)
            locked = services._count_failure(target, now)
            db.session.remove()
            return locked

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(guess, range(12)))
    assert results.count(True) == 1
    user = fresh(user)
    assert user.locked_until is not None and user.failed_logins == 0
    db.session.rollback()
    audit = actions()
    assert audit.count("locked") == 1
    # Guesses after the lock did not count: the account is locked, the counter untouched.
    assert audit.count("login_failed") == 12


def test_the_lock_expires(client, staff):
    user = staff()
    db.session.execute(
        StaffUser.__table__.update()
        .where(StaffUser.id == user.id)
        .values(locked_until=services.utcnow() - dt.timedelta(seconds=1))
    )
    db.session.commit()
    assert login(client, user).status_code == 303


def test_disabled_user_is_out_at_once(client, staff):
    admin = staff(role="admin")
    user = staff(role="operador")
    login(client, user)
    assert client.get(f"{BASE}/pagos").status_code == 200
    services.disable_user("insesp", fresh(user), admin.email)
    assert client.get(f"{BASE}/pagos").status_code == 303


def test_the_only_active_admin_cannot_be_disabled(app, staff):
    admin = staff(role="admin")
    with pytest.raises(services.StaffError):
        services.disable_user("insesp", admin, admin.email)


def test_production_refuses_the_demo_password_and_secret(make_app, app):
    prod_like = make_app(
        STAFF_ARGON2={"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        STAFF_LOGIN_RATE_LIMIT="1000 per minute",
    )
    prod_like.config["PRODUCTION"] = True
    client = prod_like.test_client()
    user = make_staff(password=auth.DEMO_PASSWORD, secret=auth.DEMO_TOTP_SECRET)
    token = csrf_from(client.get(f"{BASE}/ingresar").get_data(as_text=True))
    refused = client.post(
        f"{BASE}/ingresar",
        data={"csrf_token": token, "email": user.email, "password": auth.DEMO_PASSWORD},
    )
    assert refused.status_code == 422
    # A real password but the demo secret: the code step refuses it.
    other = make_staff(secret=auth.DEMO_TOTP_SECRET)
    token = csrf_from(client.get(f"{BASE}/ingresar").get_data(as_text=True))
    client.post(
        f"{BASE}/ingresar", data={"csrf_token": token, "email": other.email, "password": PASSWORD}
    )
    page = client.get(f"{BASE}/verificar").get_data(as_text=True)
    response = client.post(
        f"{BASE}/verificar",
        data={"csrf_token": csrf_from(page), "code": code(auth.DEMO_TOTP_SECRET)},
    )
    assert response.status_code == 422


def test_next_stays_inside_the_staff_area(client, staff):
    user = staff()
    response = client.get(f"{BASE}/pagos?q=GP123")
    assert response.status_code == 303
    assert "next=/insesp/empresa/pagos?q%3DGP123" in response.headers["Location"].replace(
        "%2F", "/"
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    token = csrf_from(page)
    first = client.post(
        response.headers["Location"],
        data={
            "csrf_token": token,
            "email": user.email,
            "password": PASSWORD,
            "next": "/insesp/empresa/pagos?q=GP123",
        },
    )
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    done = client.post(
        first.headers["Location"],
        data={
            "csrf_token": csrf_from(page),
            "code": code(user.totp_secret),
            "next": "/insesp/empresa/pagos?q=GP123",
        },
    )
    assert done.headers["Location"] == "/insesp/empresa/pagos?q=GP123"
    # A payer page or another host is never a target.
    assert sign_in is not None
