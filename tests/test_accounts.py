"""Customer accounts: login, fresh sessions, logout, throttling, enumeration, `next`, resets,
reCAPTCHA (ok, fail, unreachable), e-mail, and sessions bound to one tenant."""

from __future__ import annotations

import datetime as dt
import email
import re
import shutil
import smtplib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email import policy
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, update

from gaspay.accounts import recaptcha
from gaspay.accounts.mail import wait_for_mail
from gaspay.accounts.models import Customer, PasswordReset
from gaspay.accounts.services import (
    MAX_FAILURES,
    authenticate,
    create_customer,
    create_reset,
    link_client,
    set_password,
    use_reset,
)
from gaspay.extensions import db
from tests.conftest import CSRF_RE, csrf_from

ROOT = Path(__file__).resolve().parent.parent
BASE = "/interservicios/clientes"
EMAIL = "cliente@interservicios.test"
PASSWORD = "pago-seguro-2026"
OTHER_TENANT = """slug = "aguas"
name = "Aguas del Valle"
legal_name = "AGUAS DEL VALLE S.A. E.S.P."
nit = "900.111.222-3"
support_phone = "601 000 0000"
support_email = "soporte@aguas.test"
brand_color = "#1d5b8a"
flows = ["customer_accounts"]

[gateways.wompi]
provider = "wompi"
"""


# --- helpers shared by the customer-area tests (test_notices, test_checkout import them) ------


def make_customer(
    slug="interservicios", email=EMAIL, password=PASSWORD, clients=("100245",), name="Cliente"
) -> Customer:
    customer = create_customer(slug, email, password, name)
    for number in clients:
        link_client(customer, number)
    return customer


def token_for(client, url=f"{BASE}/entrar") -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


def login(client, email=EMAIL, password=PASSWORD, slug="interservicios", **fields):
    url = f"/{slug}/clientes/entrar"
    data = {"email": email, "password": password, "csrf_token": token_for(client, url), **fields}
    return client.post(url, data=data)


def logged_in(client, **kwargs):
    response = login(client, **kwargs)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def tenants_dir(tmp_path, *, recaptcha_on=False, other=False) -> Path:
    target = tmp_path / "tenants"
    shutil.copytree(ROOT / "instance" / "tenants", target)
    if recaptcha_on:
        path = target / "interservicios.toml"
        path.write_text(path.read_text().replace("recaptcha = false", "recaptcha = true"))
    if other:
        (target / "aguas.toml").write_text(OTHER_TENANT)
    return target


def fresh(customer: Customer) -> Customer:
    db.session.rollback()  # end the read transaction: see what the requests committed
    return db.session.get(Customer, customer.id, populate_existing=True)


@pytest.fixture
def client(make_app, app):
    """A client on its own app object: each request gets a fresh app context, hence a fresh `g`.

    (The `app` fixture keeps one app context open for the test; requests to that same app
    would share its `g`, where Flask-Login caches the user and Flask-WTF the CSRF token.)
    """
    return make_app().test_client()


@pytest.fixture
def customer(app):
    return make_customer()


@pytest.fixture
def two_tenants(make_app, tmp_path, app):
    """An app with a second tenant that also has customer accounts ("aguas")."""
    return make_app(TENANTS_DIR=str(tenants_dir(tmp_path, other=True)))


# --- the seed's path and the login page ------------------------------------------------------


def test_client_area_path_cuenta_entrar_ingresar(client):
    html = client.get(f"{BASE}/").get_data(as_text=True)
    assert "<summary>Cuenta</summary>" in html
    assert f'href="{BASE}/entrar">Entrar</a>' in html
    page = client.get(f"{BASE}/entrar").get_data(as_text=True)
    assert '<label for="email">Correo electrónico</label>' in page
    assert '<label for="password">Contraseña</label>' in page
    assert ">Ingresar</button>" in page and "¿Olvidó su contraseña?" in page
    assert "Verificación reCAPTCHA desactivada en este entorno de demostración" in page
    assert "<script>" not in page and "style=" not in page


def test_login_lands_on_the_notices_with_the_menu(client, customer):
    response = logged_in(client)
    assert response.headers["Location"] == f"{BASE}/avisos"
    html = client.get(f"{BASE}/avisos").get_data(as_text=True)
    assert "<summary>Facturación</summary>" in html
    assert "Mis avisos de cobro</a>" in html and "Mis pagos</a>" in html
    assert f'action="{BASE}/salir"' in html and ">Salir</button>" in html


def test_passwords_are_hashed_with_a_current_algorithm(customer):
    assert customer.password_hash.startswith("scrypt:")
    assert PASSWORD not in customer.password_hash


# --- sessions ------------------------------------------------------------------------------


def test_login_starts_a_fresh_session(client, customer):
    token_before = customer.session_token
    client.get(f"{BASE}/entrar")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        csrf_before = session["csrf_token"]
    logged_in(client)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") != csrf_before
        user_id = session["_user_id"]
    token_after = fresh(customer).session_token
    assert token_after != token_before
    assert user_id == f"interservicios:{customer.id}:{token_after}"


def test_logout_is_a_post_and_the_old_cookie_is_useless(client, customer):
    logged_in(client)
    cookie = client.get_cookie("session").value
    assert client.get(f"{BASE}/salir").status_code == 405
    assert client.post(f"{BASE}/salir").status_code == 400  # no CSRF token
    assert client.get(f"{BASE}/avisos").status_code == 200  # still logged in
    response = client.post(f"{BASE}/salir", data={"csrf_token": token_for(client, f"{BASE}/")})
    assert response.status_code == 303 and response.headers["Location"] == f"{BASE}/entrar"
    assert "Su sesión se cerró" in client.get(f"{BASE}/entrar").get_data(as_text=True)
    assert client.get(f"{BASE}/avisos").status_code == 303
    client.set_cookie("session", cookie)  # a copy of the cookie from before the logout
    response = client.get(f"{BASE}/avisos")
    assert response.status_code == 303 and "/entrar" in response.headers["Location"]


def test_a_new_login_ends_older_sessions(client, customer):
    first, second = client, client.application.test_client()
    logged_in(first)
    logged_in(second)
    assert first.get(f"{BASE}/avisos").status_code == 303
    assert second.get(f"{BASE}/avisos").status_code == 200


def test_sessions_expire_after_the_maximum_age(client, customer):
    logged_in(client)
    with client.session_transaction() as session:
        session["customer_login_at"] = int(time.time()) - 13 * 3600
    assert client.get(f"{BASE}/avisos").status_code == 303


def test_session_of_one_tenant_is_nothing_in_another(two_tenants):
    make_customer(slug="aguas", email="ana@aguas.test", clients=("100245",))
    client = two_tenants.test_client()
    logged_in(client, slug="aguas", email="ana@aguas.test")
    assert client.get("/aguas/clientes/avisos").status_code == 200
    assert client.get(f"{BASE}/avisos").status_code == 303
    # …and an account of one tenant cannot log in at another.
    assert login(client, email="ana@aguas.test").status_code == 422


# --- failures: one answer, throttled ------------------------------------------------------------


def _comparable(html: str, typed: str) -> str:
    """The page without its CSRF tokens (signed with a timestamp) and the e-mail typed."""
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", CSRF_RE.sub("", html))
    return html.replace(typed, "EMAIL")


def test_wrong_email_and_wrong_password_get_the_same_answer(client, customer):
    unknown = login(client, email="nadie@interservicios.test")
    wrong = login(client, password="no-es-la-clave")
    assert unknown.status_code == wrong.status_code == 422
    assert _comparable(unknown.get_data(as_text=True), "nadie@interservicios.test") == (
        _comparable(wrong.get_data(as_text=True), EMAIL)
    )
    assert "El correo o la contraseña no son correctos" in wrong.get_data(as_text=True)
    assert PASSWORD not in wrong.get_data(as_text=True)


def test_account_locks_after_repeated_failures_with_the_same_answer(client, customer):
    for _ in range(MAX_FAILURES):
        assert login(client, password="equivocada-123").status_code == 422
    locked = login(client)  # the right password, during the lock
    assert locked.status_code == 422
    assert "El correo o la contraseña no son correctos" in locked.get_data(as_text=True)
    assert fresh(customer).locked_until is not None
    db.session.execute(
        update(Customer)
        .where(Customer.id == customer.id)
        .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    db.session.commit()
    assert login(client).status_code == 303


def test_login_failures_are_throttled_per_ip(make_app, app, customer):
    client = make_app(LOGIN_RATE_LIMIT="2 per day").test_client()  # no window edge mid-test
    assert login(client, password="mala-clave-1").status_code == 422
    assert login(client).status_code == 303  # a success does not count
    client.post(f"{BASE}/salir", data={"csrf_token": token_for(client, f"{BASE}/")})
    assert login(client, password="mala-clave-2").status_code == 422
    response = login(client, password="mala-clave-3")
    assert response.status_code == 429
    assert "Demasiados intentos" in response.get_data(as_text=True)
    assert login(client).status_code == 429


# --- next ------------------------------------------------------------------------------


def test_login_required_comes_back_to_the_page(client, customer):
    response = client.get(f"{BASE}/avisos?estado=no-pagado")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == f"{BASE}/entrar"
    target = parse_qs(location.query)["next"][0]
    assert target == f"{BASE}/avisos?estado=no-pagado"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" type="hidden" value="/interservicios/clientes/avisos?estado=no-pagado"' in (
        page
    )
    assert login(client, next=target).headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/interservicios/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/insesp/factura",
        "/interservicios/../insesp/factura",
        "/interservicios/%2e%2e/insesp/",
        "/interservicios/clientes/\r\nLocation: https://evil.example",
        "interservicios/clientes/avisos",
    ],
)
def test_next_never_leads_off_the_tenant(client, customer, target):
    response = login(client, next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == f"{BASE}/avisos"


def test_htmx_request_without_session_is_sent_to_login(client):
    response = client.get(f"{BASE}/avisos", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith(f"{BASE}/entrar?next=")


# --- password reset -------------------------------------------------------------------------


def forgot(client, address=EMAIL):
    data = {"email": address, "csrf_token": token_for(client, f"{BASE}/recuperar")}
    return client.post(f"{BASE}/recuperar", data=data)


def mails(directory: Path) -> list[email.message.EmailMessage]:
    assert wait_for_mail()  # the outbox worker writes them after the request's commit
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(directory.glob("*.eml"))
    ]


def reset_path(message) -> str:
    body = message.get_content()
    match = re.search(r"http://localhost(/interservicios/clientes/restablecer/\S+)", body)
    assert match, body
    return match.group(1)


@pytest.fixture
def mail_dir(client, app, tmp_path):
    # The outbox pass (wait_for_mail) runs in the test's app context: it writes there too.
    for target in (client.application, app):
        target.config["MAIL_DIR"] = str(tmp_path / "mail")
    return tmp_path / "mail"


def test_reset_answers_the_same_whether_or_not_the_email_exists(client, customer, mail_dir):
    unknown = forgot(client, "nadie@interservicios.test")
    known = forgot(client)
    assert unknown.status_code == known.status_code == 200
    assert "Si el correo está registrado" in known.get_data(as_text=True)
    assert _comparable(unknown.get_data(as_text=True), "x") == _comparable(
        known.get_data(as_text=True), "x"
    )
    [message] = mails(mail_dir)
    assert message["To"] == EMAIL
    assert "vence en 60 minutos" in message.get_content()


def test_development_mail_file_path_is_logged(client, customer, mail_dir, caplog):
    caplog.set_level("INFO")
    forgot(client)
    assert wait_for_mail()
    [path] = mail_dir.glob("*.eml")
    assert str(path) in caplog.text
    assert path.stat().st_mode & 0o077 == 0  # holds a reset link: owner only


def test_reset_link_works_once_and_ends_old_sessions(client, customer, mail_dir):
    other_device = client.application.test_client()
    logged_in(other_device)
    forgot(client)
    path = reset_path(mails(mail_dir)[0])
    assert "Cree una nueva contraseña" in client.get(path).get_data(as_text=True)
    token = token_for(client, path)
    short = client.post(path, data={"password": "corta", "confirm": "corta", "csrf_token": token})
    assert short.status_code == 422 and "entre 10 y 128" in short.get_data(as_text=True)
    differ = {"password": "una-clave-nueva-1", "confirm": "otra-clave-nueva", "csrf_token": token}
    assert "no coinciden" in client.post(path, data=differ).get_data(as_text=True)
    new = "una-clave-nueva-2026"
    done = client.post(path, data={"password": new, "confirm": new, "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"] == f"{BASE}/entrar"
    assert "Su contraseña fue cambiada" in client.get(f"{BASE}/entrar").get_data(as_text=True)
    assert other_device.get(f"{BASE}/avisos").status_code == 303
    assert login(client).status_code == 422
    assert login(client, password=new).status_code == 303
    again = client.get(path)
    assert again.status_code == 404 and "no es válido" in again.get_data(as_text=True)


def test_expired_reset_link_is_refused(client, customer):
    token = create_reset(customer)
    db.session.execute(
        update(PasswordReset).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    )
    db.session.commit()
    assert client.get(f"{BASE}/restablecer/{token}").status_code == 404
    assert client.get(f"{BASE}/restablecer/inventado").status_code == 404
    assert client.get(f"{BASE}/restablecer/{'x' * 200}").status_code == 404


def test_reset_link_of_another_tenant_is_refused(two_tenants):
    token = create_reset(make_customer(slug="aguas", email="ana@aguas.test"))
    client = two_tenants.test_client()
    assert client.get(f"{BASE}/restablecer/{token}").status_code == 404
    assert client.get(f"/aguas/clientes/restablecer/{token}").status_code == 200


def reset_with(client, token: str, password: str):
    path = f"{BASE}/restablecer/{token}"
    page = client.get(path)
    if page.status_code != 200:
        return page
    data = {"password": password, "confirm": password, "csrf_token": csrf_from(page.text)}
    return client.post(path, data=data)


@pytest.mark.parametrize("used", ["newest", "oldest"])
def test_a_reset_ends_every_other_outstanding_link(client, customer, used):
    """Outside review, point 14: an older link kept working after a newer one was used."""
    links = [create_reset(customer) for _ in range(3)]
    chosen = links[-1] if used == "newest" else links[0]
    assert reset_with(client, chosen, "clave-del-enlace-1").status_code == 303
    for token in links:
        page = client.get(f"{BASE}/restablecer/{token}")
        assert page.status_code == 404 and "no es válido" in page.text
        assert reset_with(client, token, "clave-de-otro-enlace").status_code == 404
    assert login(client, password="clave-de-otro-enlace").status_code == 422
    assert login(client, password="clave-del-enlace-1").status_code == 303


def test_a_reset_leaves_other_customers_links_alone(client, customer):
    other = make_customer(email="otra@interservicios.test", clients=())
    theirs = create_reset(other)
    assert reset_with(client, create_reset(customer), "clave-del-enlace-2").status_code == 303
    assert reset_with(client, theirs, "clave-de-la-otra").status_code == 303
    assert (
        login(client, email="otra@interservicios.test", password="clave-de-la-otra").status_code
        == 303
    )


def test_changing_the_password_ends_outstanding_reset_links(client, customer):
    links = [create_reset(customer) for _ in range(2)]
    set_password(customer, "clave-cambiada-2026")
    for token in links:
        assert client.get(f"{BASE}/restablecer/{token}").status_code == 404
    assert login(client, password="clave-cambiada-2026").status_code == 303
    later = create_reset(customer)  # a link asked for after the change works
    assert reset_with(client, later, "clave-posterior-2026").status_code == 303


def test_two_links_used_at_once_change_the_password_once(app, customer):
    """Each of eight outstanding links used at the same moment: exactly one wins, and the
    password is the winner's (the others are revoked while they wait)."""
    tenant = app.extensions["gaspay.tenants"]["interservicios"]
    links = [create_reset(customer) for _ in range(8)]
    start = threading.Barrier(len(links))

    def use(i: int):
        with app.app_context():
            start.wait(timeout=30)
            try:
                return use_reset(tenant, links[i], f"clave-paralela-{i:02d}") is not None
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(links)) as pool:
        won = list(pool.map(use, range(len(links))))
    assert won.count(True) == 1, won
    winner = won.index(True)
    assert authenticate("interservicios", EMAIL, f"clave-paralela-{winner:02d}") is not None
    db.session.rollback()
    rows = db.session.scalars(select(PasswordReset)).all()
    assert len(rows) == len(links) and all(r.used_at is not None for r in rows)


def test_reset_link_uses_the_configured_public_url(client, customer, mail_dir):
    client.application.config["PUBLIC_URL"] = "https://pagos.example.co"
    evil = "http://evil.example"  # the Host header an attacker sends with the victim's e-mail
    page = client.get(f"{BASE}/recuperar", base_url=evil).get_data(as_text=True)
    data = {"email": EMAIL, "csrf_token": csrf_from(page)}
    assert client.post(f"{BASE}/recuperar", data=data, base_url=evil).status_code == 200
    body = mails(mail_dir)[0].get_content()
    assert "https://pagos.example.co/interservicios/clientes/restablecer/" in body
    assert "evil.example" not in body


class FakeSMTP:
    sent: ClassVar[list] = []
    fail = False

    def __init__(self, host, port, timeout):
        self.calls = [("connect", host, port, timeout)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starttls(self, context):
        self.calls.append(("starttls",))

    def login(self, user, password):
        self.calls.append(("login", user, password))

    def send_message(self, message):
        if FakeSMTP.fail:
            raise smtplib.SMTPServerDisconnected("gone")
        FakeSMTP.sent.append((self.calls, message))


@pytest.fixture
def smtp(client, app, monkeypatch):
    FakeSMTP.sent, FakeSMTP.fail = [], False
    monkeypatch.setattr("gaspay.accounts.mail.smtplib.SMTP", FakeSMTP)
    for target in (client.application, app):  # the request's app and the outbox pass's
        target.config.update(
            MAIL_SERVER="smtp.example.co",
            MAIL_USERNAME="portal",
            MAIL_PASSWORD="smtp-pass",
            MAIL_FROM="Portal <no-responder@example.co>",
        )
    return FakeSMTP


def test_reset_mail_goes_through_smtp_when_configured(client, customer, smtp):
    assert forgot(client).status_code == 200
    assert wait_for_mail()
    [(calls, message)] = smtp.sent
    assert calls == [
        ("connect", "smtp.example.co", 587, 10),
        ("starttls",),
        ("login", "portal", "smtp-pass"),
    ]
    assert message["To"] == EMAIL and message["From"] == "Portal <no-responder@example.co>"
    assert "/interservicios/clientes/restablecer/" in message.get_content()


def test_smtp_failure_still_answers_the_same(client, customer, smtp, caplog):
    smtp.fail = True
    response = forgot(client)
    assert response.status_code == 200 and "Si el correo está registrado" in response.text
    assert wait_for_mail()
    assert "not sent" in caplog.text


def test_a_slow_mail_server_does_not_tell_customers_from_strangers(
    client, customer, smtp, monkeypatch
):
    """The reset answer never waits for SMTP: the request does not even connect to the mail
    server (the outbox does, after the commit), so a customer's e-mail (a message goes out) and
    an unknown one (none does) get the same answer however slow the server is. (This counted
    seconds once; a commit stalled by the disk then read as a wait for SMTP.)"""
    connections = []
    connect = smtp.__init__

    def counted(self, host, port, timeout):
        connections.append(host)
        connect(self, host, port, timeout)

    monkeypatch.setattr(smtp, "__init__", counted)
    for address in (EMAIL, "nadie@correo.test"):
        response = forgot(client, address)
        assert response.status_code == 200 and "Si el correo está registrado" in response.text
    assert connections == []  # both answered; the mail server not touched
    assert wait_for_mail()
    assert connections == ["smtp.example.co"]
    assert [m["To"] for _, m in smtp.sent] == [EMAIL]


# --- reCAPTCHA ------------------------------------------------------------------------------

SITE_KEY, SECRET_KEY = "site-key-123", "secret-key-456"


@pytest.fixture
def captcha_client(make_app, tmp_path, app):
    return make_app(
        TENANTS_DIR=str(tenants_dir(tmp_path, recaptcha_on=True)),
        INTERSERVICIOS_RECAPTCHA_SITE_KEY=SITE_KEY,
        INTERSERVICIOS_RECAPTCHA_SECRET_KEY=SECRET_KEY,
    ).test_client()


def captcha_login(client, answer="respuesta-de-google"):
    fields = {recaptcha.FIELD: answer} if answer is not None else {}
    return login(client, **fields)


def test_login_page_shows_the_widget_and_no_secret(captcha_client):
    html = captcha_client.get(f"{BASE}/entrar").get_data(as_text=True)
    assert f'class="g-recaptcha" data-sitekey="{SITE_KEY}"' in html
    assert '<script src="https://www.google.com/recaptcha/api.js' in html
    assert SECRET_KEY not in html and "desactivada" not in html


def test_recaptcha_ok_lets_the_login_through(captcha_client, customer, mocked):
    mocked.post(recaptcha.VERIFY_URL, json={"success": True, "hostname": "localhost"})
    assert captcha_login(captcha_client).status_code == 303
    [call] = mocked.calls
    sent = parse_qs(call.request.body)
    assert sent["secret"] == [SECRET_KEY] and sent["response"] == ["respuesta-de-google"]


def test_recaptcha_failure_refuses_before_checking_the_password(captcha_client, customer, mocked):
    mocked.post(
        recaptcha.VERIFY_URL, json={"success": False, "error-codes": ["invalid-input-response"]}
    )
    response = captcha_login(captcha_client)
    assert response.status_code == 422
    assert "Marque la casilla «No soy un robot»" in response.get_data(as_text=True)
    assert fresh(customer).failed_logins == 0


def test_missing_recaptcha_answer_is_refused_without_asking_google(
    captcha_client, customer, mocked
):
    response = captcha_login(captcha_client, answer=None)
    assert response.status_code == 422 and "No soy un robot" in response.get_data(as_text=True)
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    "google",
    [
        {"body": requests.ConnectionError("sin red")},
        {"body": requests.Timeout("lento")},
        {"status": 500, "json": {"error": "boom"}},
        {"body": "<html>not json</html>"},
        {"json": {"success": False, "error-codes": ["invalid-input-secret"]}},
    ],
)
def test_recaptcha_unreachable_refuses_the_login(captcha_client, customer, mocked, google):
    mocked.post(recaptcha.VERIFY_URL, **google)
    response = captcha_login(captcha_client)
    assert response.status_code == 422
    assert "No pudimos comprobar el reCAPTCHA" in response.get_data(as_text=True)
    with captcha_client.session_transaction() as session:
        assert "_user_id" not in session


def test_recaptcha_on_without_keys_fails_closed(make_app, tmp_path, app, customer, mocked):
    client = make_app(TENANTS_DIR=str(tenants_dir(tmp_path, recaptcha_on=True))).test_client()
    response = captcha_login(client)
    assert response.status_code == 422 and "No pudimos comprobar" in response.text
    assert len(mocked.calls) == 0


def test_recaptcha_also_guards_the_reset_request(captcha_client, customer, mocked):
    mocked.post(recaptcha.VERIFY_URL, json={"success": False})
    response = forgot(captcha_client)
    assert response.status_code == 422 and "No soy un robot" in response.get_data(as_text=True)


def test_csp_allows_google_recaptcha_only_on_its_pages(captcha_client, client):
    csp = captcha_client.get(f"{BASE}/entrar").headers["Content-Security-Policy"]
    assert "script-src 'self' https://www.google.com/recaptcha/ https://www.gstatic.com/" in csp
    assert "frame-src https://www.google.com/recaptcha/ https://recaptcha.google.com/" in csp
    assert "unsafe-inline" not in csp
    for other in (captcha_client.get(f"{BASE}/"), client.get(f"{BASE}/entrar")):
        assert "google" not in other.headers["Content-Security-Policy"]
