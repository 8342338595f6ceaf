"""Every staff route, for every role: no session -> the login page; a role without the right
-> 403; another company's ids -> 404; own ids -> served. Routes come from the URL map, so a new
staff route fails `test_every_staff_route_is_classified` until it is listed here."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest

from gaspay import create_app
from gaspay.billing import importer
from gaspay.extensions import db
from gaspay.payments.services import flag_for_review
from gaspay.staff.auth import PERMISSIONS
from gaspay.timeutil import today_in_bogota
from tests.conftest import base_config
from tests.staff.conftest import make_staff, page_csrf, sign_in

ROLES = ("admin", "operador", "consulta")
PUBLIC = {"login", "verify", "logout", "activate"}
# endpoint -> the ids in its path, and the form a POST sends (besides the CSRF token).
ID_KINDS = {
    "payment": ("attempt_id",),
    "requery": ("attempt_id",),
    "note": ("attempt_id",),
    "resend": ("attempt_id", "message_id"),
    "review": ("review_id",),
    "resolve": ("review_id",),
    "user_disable": ("user_id",),
    "user_enable": ("user_id",),
    "user_reset_totp": ("user_id",),
    "user_link": ("user_id",),
    "bill_import": ("import_id",),
    "bill_import_confirm": ("import_id",),
}
FORMS = {
    "note": {"nota": "Llamó el cliente."},
    "resolve": {"decision": "correcto", "nota": "Revisado con el banco."},
    "exports": {"formato": "csv", "desde": "2026-01-01", "hasta": "2026-01-02"},
    "users": {"email": "nuevo@insesp.test", "nombre": "Nuevo", "rol": "consulta"},
    "bills_upload": lambda: {"archivo": (io.BytesIO(BILLS_CSV.encode()), "facturas.csv")},
}
BILLS_CSV = (
    "bill_number,client_number,concept,first_name,amount,due_on\n"
    "FG-R-1,0021099,Factura del Gas,Ana,18000,2030-01-31\n"
)


def _staff_rules():
    app = create_app(base_config("sqlite://"))
    for rule in app.url_map.iter_rules():
        slug, _, endpoint = rule.endpoint.partition(".")
        if slug == "insesp" and endpoint.startswith("staff."):
            view = app.view_functions[rule.endpoint]
            for method in sorted(rule.methods & {"GET", "POST"}):
                yield endpoint.removeprefix("staff."), method, rule.rule, view


RULES = list(_staff_rules())
PROTECTED = [
    (e, m, r, getattr(v, "staff_permission", None)) for e, m, r, v in RULES if e not in PUBLIC
]


def test_every_staff_route_is_classified():
    for endpoint, _method, rule, permission in PROTECTED:
        assert permission in PERMISSIONS, f"{rule} ({endpoint}) is not wrapped in requires()"
        if "<" in rule:
            assert endpoint in ID_KINDS, f"{rule} takes an id: list it in ID_KINDS"
    assert {e for e, *_ in PROTECTED} >= set(ID_KINDS)
    assert {e for e, *_ in RULES} >= PUBLIC


@dataclass
class World:
    ids: dict[str, dict[str, int]]  # "own" / "foreign" -> id kind -> id


@pytest.fixture
def world(app, approved, interservicios, insesp, tmp_path):
    own_attempt, _ = approved(insesp, client="0021053")
    foreign_attempt, _ = approved(interservicios, client="100245", cus="CUS-2")
    flag_for_review(own_attempt.id, "valor distinto", "mismatch")
    flag_for_review(foreign_attempt.id, "valor distinto", "mismatch")
    from sqlalchemy import select

    from gaspay.payments.models import PaymentReview

    db.session.rollback()
    reviews = {r.tenant: r.id for r in db.session.scalars(select(PaymentReview)).all()}
    messages = {}
    from gaspay.db import write_unit
    from gaspay.outbox import enqueue

    for attempt in (own_attempt, foreign_attempt):
        with write_unit():
            message = enqueue(
                "webhook",
                {"x": 1},
                tenant=attempt.tenant,
                topic="payment.approved",
                destination="https://erp.test/hook",
                subject=("payment_attempt", attempt.id),
            )
        messages[attempt.tenant] = message.id
    own_user = make_staff("insesp", role="operador", email="otro@insesp.test")
    loads = {}
    for slug in ("insesp", "interservicios"):
        path = tmp_path / f"{slug}.csv"
        path.write_text(BILLS_CSV)
        loads[slug] = importer.prepare_import(slug, path, created_by="t").id
    foreign_user = make_staff("interservicios", role="admin", email="admin@interservicios.test")
    return World(
        ids={
            "own": {
                "attempt_id": own_attempt.id,
                "review_id": reviews["insesp"],
                "user_id": own_user.id,
                "message_id": messages["insesp"],
                "import_id": loads["insesp"],
            },
            "foreign": {
                "attempt_id": foreign_attempt.id,
                "review_id": reviews["interservicios"],
                "user_id": foreign_user.id,
                "message_id": messages["interservicios"],
                "import_id": loads["interservicios"],
            },
        }
    )


def _url(rule: str, ids: dict[str, int]) -> str:
    url = rule
    for name, value in ids.items():
        url = url.replace(f"<int:{name}>", str(value))
    return url


def _request(client, method, url, endpoint):
    if method == "GET":
        return client.get(url)
    token = page_csrf(client, "/insesp/empresa/exportar")
    form = FORMS.get(endpoint, {})
    data = {"csrf_token": token, **(form() if callable(form) else form)}
    if endpoint == "exports":
        day = today_in_bogota().isoformat()
        data.update(desde=day, hasta=day)
    return client.post(url, data=data)


CASES = [
    pytest.param(e, m, r, p, role, id=f"{m} {r} [{role}]")
    for e, m, r, p in PROTECTED
    for role in ROLES
]


@pytest.mark.parametrize(("endpoint", "method", "rule", "permission", "role"), CASES)
def test_role_and_ownership(client, world, endpoint, method, rule, permission, role):
    user = make_staff("insesp", role=role)
    sign_in(client, user)
    own = _request(client, method, _url(rule, world.ids["own"]), endpoint)
    allowed = role in PERMISSIONS[permission]
    if not allowed:
        assert own.status_code == 403, own.get_data(as_text=True)[:300]
    else:
        assert own.status_code in (200, 303), (own.status_code, own.get_data(as_text=True)[:500])
        assert own.headers["Cache-Control"] == "no-store"
    if "<" in rule:
        foreign = _request(client, method, _url(rule, world.ids["foreign"]), endpoint)
        assert foreign.status_code == (404 if allowed else 403)
        if allowed:
            assert "Persona" not in foreign.get_data(as_text=True)


@pytest.mark.parametrize(("endpoint", "method", "rule", "permission"), PROTECTED)
def test_no_session_goes_to_the_login(client, world, endpoint, method, rule, permission):
    url = _url(rule, world.ids["own"])
    if method == "GET":
        response = client.get(url)
    else:
        token = page_csrf(client, "/insesp/empresa/ingresar")
        form = FORMS.get(endpoint, {})
        response = client.post(
            url, data={"csrf_token": token, **(form() if callable(form) else form)}
        )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/insesp/empresa/ingresar")


@pytest.mark.parametrize(("endpoint", "method", "rule", "permission"), PROTECTED)
def test_another_companys_staff_session_is_no_session(
    client, world, endpoint, method, rule, permission
):
    sign_in(client, make_staff("interservicios", role="admin"))
    url = _url(rule, world.ids["own"])
    response = client.get(url) if method == "GET" else client.post(url, data={})
    # A POST without a CSRF token is refused before anything else (400); a GET goes to login.
    assert response.status_code == (303 if method == "GET" else 400)


POSTS = [case for case in PROTECTED if case[1] == "POST"]


@pytest.mark.parametrize(("endpoint", "method", "rule", "permission"), POSTS)
def test_posts_without_csrf_are_refused(client, world, endpoint, method, rule, permission):
    sign_in(client, make_staff("insesp", role="admin"))
    form = FORMS.get(endpoint, {})
    response = client.post(_url(rule, world.ids["own"]), data=form() if callable(form) else form)
    assert response.status_code == 400
