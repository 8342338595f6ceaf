"""Staff authentication: Argon2id passwords, TOTP second factor, and the staff session.

The staff session lives under its own key in the signed session cookie, apart from the
customers' Flask-Login keys, and names its tenant: under another tenant's pages it is nothing.
It holds the user's current session token (rotated on every login, logout, disable and
second-factor reset, so a copied cookie dies with it), the moment of login, and the moment of
the last request (idle for ``STAFF_IDLE_MINUTES`` and it is over).

Roles are checked on the server for every action through ``requires(permission)``.
"""

from __future__ import annotations

import base64
import functools
import hmac
import io
import time
from collections.abc import Callable

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, flash, g, make_response, redirect, request, session, url_for
from sqlalchemy import select

from gaspay.accounts.auth import safe_next
from gaspay.extensions import db
from gaspay.staff.models import ADMIN, CONSULTA, OPERADOR, StaffUser
from gaspay.web.templating import is_htmx, tenant_url

SESSION_KEY = "gaspay_staff"
PENDING = "pw"  # password checked, second factor not yet
DONE = "ok"
PENDING_SECONDS = 5 * 60
DEFAULT_IDLE_MINUTES = 30
DEFAULT_MAX_HOURS = 12
# Development only: the demo users' password and TOTP secret. Production refuses both.
DEMO_PASSWORD = "empresa-demo-2026"  # noqa: S105
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXP"  # noqa: S105
TOTP_ISSUER = "gaspay"

ALL = frozenset({ADMIN, OPERADOR, CONSULTA})
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": ALL,  # payments, reviews, bills, overview
    "export": ALL,
    "requery": frozenset({ADMIN, OPERADOR}),
    "note": frozenset({ADMIN, OPERADOR}),
    "resolve": frozenset({ADMIN}),
    "resend": frozenset({ADMIN}),
    "upload": frozenset({ADMIN}),
    "users": frozenset({ADMIN}),
    "audit": frozenset({ADMIN}),
}


# --- passwords -----------------------------------------------------------------------------------


@functools.cache
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hasher() -> PasswordHasher:
    """Argon2id (memory-hard); RFC 9106's second recommendation unless the deployment says."""
    params = current_app.config.get("STAFF_ARGON2", {}) or {}
    return _hasher(
        int(params.get("time_cost", 3)),
        int(params.get("memory_cost", 64 * 1024)),
        int(params.get("parallelism", 4)),
    )


def hash_password(password: str) -> str:
    return hasher().hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """Same work whether or not the user exists (a dummy hash when there is none)."""
    try:
        return hasher().verify(password_hash or _dummy_hash(), password or "")
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash_for(key: tuple) -> str:
    return hasher().hash("not-a-password-of-anyone")


def _dummy_hash() -> str:
    params = current_app.config.get("STAFF_ARGON2", {}) or {}
    return _dummy_hash_for(tuple(sorted(params.items())))


def refused_in_production(password: str | None = None, secret: str | None = None) -> bool:
    """The demo's password and TOTP secret never open anything in production."""
    if not current_app.config.get("PRODUCTION"):
        return False
    return password == DEMO_PASSWORD or secret == DEMO_TOTP_SECRET


# --- TOTP ----------------------------------------------------------------------------------------


class _DemoTOTP(pyotp.TOTP):
    """The demo's well-known secret is 80 bits (pyotp asks for 112 by default, after NIST
    SP 800-63B); it is accepted in development only and refused in production."""

    min_secret_length_bits = 80


def totp(secret: str) -> pyotp.TOTP:
    return _DemoTOTP(secret) if secret == DEMO_TOTP_SECRET else pyotp.TOTP(secret)


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 160 bits


def totp_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The 30-second step `code` is valid for (this one or its neighbours), or None."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    generator = totp(secret)
    now = time.time() if now is None else now
    current = int(now // generator.interval)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(generator.generate_otp(step), code):
            return step
    return None


def provisioning_uri(user: StaffUser, secret: str, company: str) -> str:
    return totp(secret).provisioning_uri(name=user.email, issuer_name=f"{TOTP_ISSUER} {company}")


def qr_data_uri(uri: str) -> str:
    """The enrolment QR code as an SVG data URI (allowed by the CSP's img-src data:)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=4, xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def spaced_secret(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- the staff session ---------------------------------------------------------------------------


def _idle_seconds() -> int:
    return int(current_app.config.get("STAFF_IDLE_MINUTES", DEFAULT_IDLE_MINUTES)) * 60


def _max_age() -> int:
    return int(current_app.config.get("STAFF_SESSION_MAX_HOURS", DEFAULT_MAX_HOURS)) * 3600


def _payload(user: StaffUser, stage: str) -> dict:
    now = int(time.time())
    return {"t": user.tenant, "u": user.id, "k": user.session_token, "s": stage, "a": now, "v": now}


def start_pending(user: StaffUser) -> None:
    """Password accepted: a fresh session that only opens the second-factor step."""
    session.clear()  # nothing from before survives a login
    session[SESSION_KEY] = _payload(user, PENDING)


def start_session(user: StaffUser) -> None:
    """Both factors accepted (the user's session token was rotated just before)."""
    session.clear()
    session[SESSION_KEY] = _payload(user, DONE)


def end_session() -> None:
    session.pop(SESSION_KEY, None)
    session.clear()


def _session_user(stage: str) -> StaffUser | None:
    data = session.get(SESSION_KEY)
    tenant = g.get("tenant")
    if tenant is None or not isinstance(data, dict) or data.get("t") != tenant.slug:
        return None
    if data.get("s") != stage or not isinstance(data.get("u"), int):
        return None
    now = int(time.time())
    started, seen = data.get("a"), data.get("v")
    if not isinstance(started, int) or not isinstance(seen, int):
        return None
    limit = PENDING_SECONDS if stage == PENDING else _max_age()
    if not 0 <= now - started <= limit or (stage == DONE and now - seen > _idle_seconds()):
        session.pop(SESSION_KEY, None)
        g.staff_expired = stage == DONE
        return None
    user = db.session.scalars(
        select(StaffUser).where(StaffUser.tenant == tenant.slug, StaffUser.id == data["u"])
    ).first()
    token = str(data.get("k") or "")
    if user is None or not user.active or not hmac.compare_digest(user.session_token, token):
        session.pop(SESSION_KEY, None)
        return None
    if stage == DONE and now - seen >= 5:  # the idle clock, without a new cookie per request
        data["v"] = now
        session[SESSION_KEY] = data
    return user


def current_staff() -> StaffUser | None:
    """The signed-in staff user of this tenant, or None (cached for the request)."""
    if "staff_user" not in g:
        g.staff_user = _session_user(DONE)
    return g.staff_user


def pending_staff() -> StaffUser | None:
    return _session_user(PENDING)


def can(permission: str, user: StaffUser | None = None) -> bool:
    user = user or current_staff()
    return user is not None and user.role in PERMISSIONS[permission]


def _here() -> str:
    return request.full_path.rstrip("?") if request.method == "GET" else request.path


def to_login():
    if g.get("staff_expired"):
        flash("Su sesión se cerró tras 30 minutos de inactividad. Ingrese de nuevo.", "warn")
    target = tenant_url("staff.login", next=safe_next(_here()))
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


def requires(permission: str) -> Callable:
    """Every staff view: a staff session of this tenant, and a role allowed to do this."""
    allowed = PERMISSIONS[permission]

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_staff()
            if user is None:
                return to_login()
            if user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapped.staff_permission = permission
        return wrapped

    return decorate


def enrolment_link(slug: str, token: str) -> str:
    """The one-time enrolment link, absolute (GASPAY_PUBLIC_URL when set)."""
    endpoint = f"{slug}.staff.activate"
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, token=token)
    return url_for(endpoint, token=token, _external=True)
