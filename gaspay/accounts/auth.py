"""Customer sessions with Flask-Login, bound to one tenant and to the customer's session token.

The session holds ``Customer.get_id()`` = ``"<tenant>:<id>:<session token>"``. A cookie is only
good inside its own tenant's pages, only while the token is the customer's current one (login,
logout and password resets rotate it, so every older cookie stops working) and only for
``CUSTOMER_SESSION_MAX_AGE`` seconds after the login.
"""

from __future__ import annotations

import hmac
import time
from urllib.parse import unquote, urlsplit

from flask import abort, current_app, g, make_response, redirect, request, session
from flask_login import LoginManager, login_user, logout_user

from gaspay.accounts.models import Customer
from gaspay.accounts.services import get_customer, rotate_session
from gaspay.web.templating import is_htmx, tenant_url

LOGIN_AT = "customer_login_at"
DEFAULT_MAX_AGE = 12 * 3600
MAX_NEXT = 512


def _max_age() -> int:
    return int(current_app.config.get("CUSTOMER_SESSION_MAX_AGE", DEFAULT_MAX_AGE))


def load_customer(user_id: str) -> Customer | None:
    """Flask-Login's user loader: None unless tenant, token and age all match."""
    tenant = g.get("tenant")
    if tenant is None or not tenant.offers("customer_accounts"):
        return None
    slug, _, rest = str(user_id).partition(":")
    raw_id, _, token = rest.partition(":")
    if slug != tenant.slug or not raw_id.isdigit() or not token:
        return None
    started = session.get(LOGIN_AT)
    if not isinstance(started, int) or not 0 <= time.time() - started <= _max_age():
        return None
    customer = get_customer(slug, int(raw_id))
    if customer is None or not hmac.compare_digest(customer.session_token.encode(), token.encode()):
        return None
    return customer


def safe_next(value: str | None) -> str | None:
    """`value` if it is a path inside the current tenant's pages, else None (no open redirect)."""
    if not value or len(value) > MAX_NEXT or not value.startswith("/") or value.startswith("//"):
        return None
    if any(ch == "\\" or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or ".." in unquote(parts.path).split("/"):
        return None
    if not parts.path.startswith(f"/{g.tenant.slug}/"):
        return None
    return value


def _here() -> str:
    """Where to come back after logging in: this page (a GET of the same path for a POST)."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    return request.path


def unauthorized():
    """A page that needs a customer: to the tenant's login page, asking to come back here."""
    tenant = g.get("tenant")
    if tenant is None or not tenant.offers("customer_accounts"):
        abort(404)
    target = tenant_url("accounts.login", next=safe_next(_here()))
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


def start_session(customer: Customer) -> None:
    """A fresh session for a customer who just proved who they are."""
    session.clear()  # nothing from before the login survives (Flask-Login does not do this)
    rotate_session(customer)  # cookies issued before this login stop working
    login_user(customer)
    session[LOGIN_AT] = int(time.time())


def end_session(customer: Customer | None) -> None:
    """Logout: the token rotates, so even a copy of the old cookie is useless afterwards."""
    if customer is not None:
        rotate_session(customer)
    logout_user()
    session.clear()


def register(manager: LoginManager) -> None:
    manager.user_loader(load_customer)
    manager.unauthorized_handler(unauthorized)
    manager.session_protection = "basic"
