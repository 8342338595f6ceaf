"""Who may see a payment's receipt in full.

A guest receipt in full is for the browser that started the payment (a signed, HttpOnly cookie
set when it starts) and for the link sent to the payer's own mailbox (a signed capability in the
URL). A customer's receipt is the customer's. Everyone else sees at most status, amount, company
and date.
"""

from __future__ import annotations

from flask import current_app, url_for
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
