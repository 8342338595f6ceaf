"""Who may see a payment's receipt in full.

A guest receipt in full is for the browser that started the payment (a signed, HttpOnly cookie
set when it starts) and for the link sent to the payer's own mailbox (a signed capability in the
URL). A customer's receipt is the customer's. Everyone else sees at most status, amount, company
and date.
"""

from __future__ import annotations

from flask import Response, current_app, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from gaspay.payments.models import PaymentAttempt
from gaspay.tenancy.config import Tenant

MAIL_SALT = "gaspay.receipt.mail"


def _mail_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=MAIL_SALT)


def mail_capability(attempt: PaymentAttempt) -> str:
    """The token only the payer's mailbox receives (it names the tenant and the reference)."""
    return _mail_serializer().dumps([attempt.tenant, attempt.reference])


def mail_capability_valid(tenant: Tenant, reference: str, token: str | None) -> bool:
    if not token or len(token) > 200:
        return False
    try:
        slug, ref = _mail_serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return False
    return slug == tenant.slug and ref == reference


def mail_link(tenant: Tenant, attempt: PaymentAttempt) -> str:
    """The absolute receipt URL with the mailbox capability, for the receipt e-mail."""
    path = url_for(
        f"{tenant.slug}.payments.result",
        reference=attempt.reference,
        c=mail_capability(attempt),
    )
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return base.rstrip("/") + path
    return url_for(
        f"{tenant.slug}.payments.result",
        reference=attempt.reference,
        c=mail_capability(attempt),
        _external=True,
    )


BROWSER_COOKIE = "gaspay_pagos"
BROWSER_SALT = "gaspay.receipt.browser"
BROWSER_MAX_AGE = 90 * 24 * 3600
MAX_REMEMBERED = 8


def _browser_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=BROWSER_SALT)


def _remembered() -> list[str]:
    raw = request.cookies.get(BROWSER_COOKIE)
    if not raw or len(raw) > 2000:
        return []
    try:
        value = _browser_serializer().loads(raw)
    except (BadSignature, ValueError, TypeError):
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def started_here(tenant: Tenant, reference: str) -> bool:
    """Did this browser start the payment (it holds the signed cookie set at the start)?"""
    return f"{tenant.slug}:{reference}" in _remembered()


def remember_in_browser(response: Response, tenant: Tenant, reference: str) -> Response:
    """Set the signed, HttpOnly cookie that lets this browser read its own receipt in full."""
    key = f"{tenant.slug}:{reference}"
    kept = [k for k in _remembered() if k != key][-(MAX_REMEMBERED - 1) :]
    response.set_cookie(
        BROWSER_COOKIE,
        _browser_serializer().dumps([*kept, key]),
        max_age=BROWSER_MAX_AGE,
        httponly=True,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        samesite="Lax",
        path="/",
    )
    return response


def register(app) -> None:
    """`may_see_payer(attempt)` in templates: may this viewer see the payment's CUS and payer?"""
    from flask import g
    from flask_login import current_user

    app.jinja_env.globals["may_see_payer"] = lambda attempt: may_see_in_full(
        g.tenant, attempt, current_user
    )


def may_see_in_full(tenant: Tenant, attempt: PaymentAttempt, customer) -> bool:
    """The customer who owns it, the browser that started it, or the payer's mailbox link."""
    if attempt.customer_id is not None:
        return bool(getattr(customer, "is_authenticated", False)) and (
            customer.id == attempt.customer_id
        )
    return started_here(tenant, attempt.reference) or mail_capability_valid(
        tenant, attempt.reference, request.args.get("c")
    )
