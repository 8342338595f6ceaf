"""Promise 17: every route that takes an id answers 404 for another tenant's or another
customer's object, and changes nothing.

The routes come from the URL map. Every tenant route must be classified below, either as an id
route (with where its id travels and what it names) or as a route without an id, so a new route
fails `test_every_tenant_route_is_classified` until it is listed here — and, once listed as an id
route, it is attacked with every foreign object of its kind.

The world has three tenants: Insesp (guests, PSE), Interservicios (customers, Web Checkout) and
Aguas (customers, Web Checkout; same client number and same e-mail as the Interservicios
customer, to make a leak by number or by e-mail visible).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, update

from gaspay import create_app
from gaspay.accounts.models import Customer, PasswordReset
from gaspay.accounts.services import create_reset
from gaspay.billing.services import bill_token
from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments.models import AttemptTransition, BillHold, PaymentAttempt
from gaspay.timeutil import today_in_bogota, utcnow
from tests.conftest import base_config
from tests.test_accounts import EMAIL, logged_in, make_customer, tenants_dir, token_for

# How each id route carries its id, and what the id names.
ID_ROUTES = {
    "payments.result": ("path", "reference", "attempt"),
    "checkout.handoff": ("path", "reference", "attempt"),
    "payments.receipt_pdf": ("path", "reference", "attempt"),
    "accounts.notice": ("path", "bill_id", "bill"),
    "checkout.notice": ("path", "bill_id", "bill"),
    "accounts.reset": ("path", "token", "reset"),
    "pse.start": ("query", "factura", "bill_token"),  # ?factura=<signed bill token>
    "pse.pay": ("form", "factura", "bill_token"),  # hidden field factura=<signed bill token>
    "billing.selection": ("query", "ofrecida", "bill_token"),  # "Recalcular" a selection
    "checkout.selection": ("query", "aviso", "bill"),  # "Pagar seleccionados"
    "checkout.pay_selection": ("form", "aviso", "bill"),
}
# Routes that name no object of anyone (checked by the other attack tests).
NO_ID_ROUTES = {
    "home",
    "billing.lookup",
    "accounts.area",
    "accounts.notices",
    "accounts.login",
    "accounts.logout",
    "accounts.forgot",
    "accounts.terms",
    "accounts.payments",
    "webhooks.wompi",
    "webhooks.placetopay",
}
TENANTS = ("insesp", "interservicios", "aguas")
WITH_ACCOUNTS = {"interservicios", "aguas"}
# Who owns the object put in the URL. "tenant:<slug>" = an object of that other tenant.
OWNERS = {
    "attempt": ["tenant:*", "other_customer", "missing"],
    "bill": ["tenant:insesp", "tenant:aguas", "other_customer", "unlinked", "missing"],
    "reset": ["tenant:aguas", "used", "missing"],
    "bill_token": ["tenant:interservicios", "tenant:aguas", "forged"],
}
SECRET_CONCEPT = "Aviso reservado"  # every foreign bill's concept: never on a 404 page


@dataclass(frozen=True)
class Case:
    tenant: str
    endpoint: str  # without the tenant prefix
    rule: str
    method: str
    owner: str

    @property
    def kind(self) -> str:
        return ID_ROUTES[self.endpoint][2]

    def __str__(self) -> str:
        return f"{self.method} {self.rule} [{self.owner}]"


def _tenant_rules():
    app = create_app(base_config("sqlite://"))
    slugs = set(app.extensions["gaspay.tenants"])
    for rule in app.url_map.iter_rules():
        slug, _, endpoint = rule.endpoint.partition(".")
        # The staff area has its own test over every staff route and every role
        # (tests/staff/test_staff_routes.py: other tenant's ids 404, forbidden 403, no session).
        if slug in slugs and not endpoint.startswith("staff."):
            yield slug, endpoint, rule


def _owners(tenant: str, kind: str) -> list[str]:
    owners = []
    for owner in OWNERS[kind]:
        if owner == "tenant:*":
            owners += [f"tenant:{t}" for t in TENANTS if t != tenant]
        elif owner.startswith("tenant:") and owner.removeprefix("tenant:") == tenant:
            continue
        elif owner == "other_customer" and tenant not in WITH_ACCOUNTS:
            continue  # guests own nothing: a guest attempt is reached by its reference
        else:
            owners.append(owner)
    return owners


def _cases() -> list[Case]:
    cases = []
    for tenant, endpoint, rule in _tenant_rules():
        # Gasnova (the PlacetoPay demo) has Insesp's very routes; the owners' objects are made
        # for the tenants in TENANTS only.
        if endpoint not in ID_ROUTES or tenant not in TENANTS:
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            for owner in _owners(tenant, ID_ROUTES[endpoint][2]):
                cases.append(Case(tenant, endpoint, rule.rule, method, owner))
    return sorted(cases, key=str)


CASES = _cases()
# A guest who holds only a reference gets no PDF (outside review, point 1): the payer's own
# browser and mailbox link are tested in tests/test_review_findings.py.
CONTROLS = sorted(
    {
        Case(c.tenant, c.endpoint, c.rule, c.method, "own")
        for c in CASES
        if not (c.endpoint == "payments.receipt_pdf" and c.tenant not in WITH_ACCOUNTS)
    },
    key=str,
)


def test_every_tenant_route_is_classified():
    seen = set()
    for _tenant, endpoint, rule in _tenant_rules():
        seen.add(endpoint)
        assert endpoint in ID_ROUTES or endpoint in NO_ID_ROUTES, (
            f"new route {rule.rule} ({endpoint}): list it in ID_ROUTES or NO_ID_ROUTES"
        )
        if "<" in rule.rule:
            assert endpoint in ID_ROUTES, f"{rule.rule} takes an id: list it in ID_ROUTES"
    assert set(ID_ROUTES) <= seen, f"listed but gone: {set(ID_ROUTES) - seen}"
    assert {c.endpoint for c in CASES} == set(ID_ROUTES)


# --------------------------------------------------------------------------- the world


class World:
    """Objects of three tenants and two Interservicios customers; clients that act as "me"."""

    def __init__(self, portal, tenants):
        self.portal = portal
        self.tenants = tenants
        t = tenants
        self.me = make_customer(clients=("100245",))
        self.other = make_customer(email="otro@interservicios.test", clients=("200300",))
        self.aguas = make_customer(slug="aguas", clients=("100245",))  # same e-mail and number
        self.bills = {
            "insesp": self._bill("insesp", "0021053", "Factura del Gas"),
            "own": self._bill("interservicios", "100245", "Aviso propio"),
            "other_customer": self._bill("interservicios", "200300", SECRET_CONCEPT),
            "unlinked": self._bill("interservicios", "555", SECRET_CONCEPT),
            "aguas": self._bill("aguas", "100245", SECRET_CONCEPT),
        }
        # The Interservicios bill the guest-token cases point at (not the customer's own).
        self.bills["interservicios"] = self._bill("interservicios", "100245", SECRET_CONCEPT)
        self.attempts = {
            "insesp": self._attempt(t["insesp"], self.bills["insesp"], "pse", None),
            "own": self._attempt(t["interservicios"], self.bills["own"], "wompi", self.me),
            "other_customer": self._attempt(
                t["interservicios"], self.bills["other_customer"], "wompi", self.other
            ),
            "aguas": self._attempt(t["aguas"], self.bills["aguas"], "wompi", self.aguas),
        }
        self.attempts["interservicios"] = self.attempts["other_customer"]
        self.resets = {"own": create_reset(self.me), "aguas": create_reset(self.aguas)}
        used = create_reset(self.me)
        db.session.execute(
            update(PasswordReset)
            .where(PasswordReset.token_hash == _hash(used))
            .values(used_at=utcnow())
        )
        db.session.commit()
        self.resets["used"] = used
        self.tokens = {
            slug: bill_token(t[slug], self.bills[slug]) for slug in TENANTS if slug != "insesp"
        }
        self.tokens["own"] = bill_token(t["insesp"], self.bills["insesp"])
        self.tokens["forged"] = self.tokens["own"][:-6] + "AAAAAA"

    @staticmethod
    def _bill(tenant, client, concept):
        from gaspay.billing.models import Bill
        from gaspay.billing.numbers import normalise_number

        bill = Bill(
            tenant=tenant,
            client_number=normalise_number(client),
            client_display=client,
            bill_number=f"{tenant}-{client}-{concept}",
            concept=concept,
            holder_first_name="Titular",
            holder_last_name="Reservado",
            amount_cents=4_630_000,
            vat_cents=0,
            due_on=today_in_bogota() + dt.timedelta(days=30),
        )
        db.session.add(bill)
        db.session.commit()
        return bill

    @staticmethod
    def _attempt(tenant, bill, gateway, customer):
        return services.open_attempt(
            tenant,
            [bill],
            gateway=gateway,
            description="Prueba",
            payer={"payer_name": "Titular Reservado", "payer_email": "t@correo.test"},
            customer_id=customer.id if customer else None,
        )

    def value(self, case: Case, owner: str) -> str:
        kind = case.kind
        key = owner.removeprefix("tenant:")
        if kind == "attempt" and owner == "own" and case.tenant == "insesp":
            key = "insesp"  # a guest's own attempt: the one they hold the reference of
        if kind == "attempt":
            return "GPZZZZZZZZZZ" if owner == "missing" else self.attempts[key].reference
        if kind == "bill":
            return "999999" if owner == "missing" else str(self.bills[key].id)
        if kind == "reset":
            return "x" * 43 if owner == "missing" else self.resets[key]
        return self.tokens[key]

    def client(self, tenant: str):
        client = self.portal.test_client()
        if tenant in WITH_ACCOUNTS:
            logged_in(client, slug=tenant)
        return client

    def snapshot(self) -> tuple:
        db.session.rollback()  # see what the requests committed
        counts = tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (PaymentAttempt, AttemptTransition, BillHold)
        )
        used = db.session.scalar(
            select(func.count()).select_from(PasswordReset).where(PasswordReset.used_at.is_(None))
        )
        passwords = tuple(db.session.scalars(select(Customer.password_hash).order_by(Customer.id)))
        return (*counts, used, passwords)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def world(make_app, app, tmp_path, mocked):
    """Every gateway call is refused (`mocked`): no route needs the gateway to say 404."""
    portal = make_app(TENANTS_DIR=str(tenants_dir(tmp_path, other=True)))
    return World(portal, portal.extensions["gaspay.tenants"])


def _request(world: World, case: Case, value: str):
    client = world.client(case.tenant)
    where, name, _kind = ID_ROUTES[case.endpoint]
    url = case.rule.replace(f"<{name}>", value).replace(f"<int:{name}>", value)
    if where == "query":
        url = f"{url}?{name}={value}"
    if case.method == "GET":
        return client.get(url)
    page = f"/{case.tenant}/clientes/" if case.tenant in WITH_ACCOUNTS else "/insesp/factura"
    data = {"csrf_token": token_for(client, page)}
    if where == "form":
        data[name] = value
    data.update(acepta_terminos="y", metodo="wompi", password="x" * 12, confirm="x" * 12)
    return client.post(url, data=data)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_another_owners_id_is_not_found_and_changes_nothing(world, case):
    value = world.value(case, case.owner)
    before = world.snapshot()
    response = _request(world, case, value)
    assert response.status_code == 404, (str(case), response.status_code)
    body = response.get_data(as_text=True)
    assert SECRET_CONCEPT not in body and "Reservado" not in body
    assert world.snapshot() == before
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("case", CONTROLS, ids=str)
def test_the_owner_reaches_their_own_object(world, case):
    """The same requests with the caller's own object are not 404: the 404s above are earned."""
    response = _request(world, case, world.value(case, "own"))
    assert response.status_code != 404, (str(case), response.get_data(as_text=True)[:500])


def test_the_aguas_customer_shares_number_and_email(world):
    """The world is as hard as it claims: same e-mail and client number in two tenants."""
    assert world.aguas.email == world.me.email == EMAIL
    assert world.aguas.client_numbers == world.me.client_numbers
