"""'¿Olvidó su contraseña?': one expiring, single-use link by e-mail, same answer for everyone."""

from __future__ import annotations

import logging

from flask import current_app, render_template, url_for

from gaspay.accounts.mail import queue_mail
from gaspay.accounts.services import RESET_MINUTES, create_reset, find_customer
from gaspay.tenancy.config import Tenant

log = logging.getLogger(__name__)


class ResetLinkError(RuntimeError):
    """No trustworthy base URL to put in the e-mail."""


def reset_link(tenant: Tenant, token: str) -> str:
    """The link in the e-mail, from ``PUBLIC_URL`` when configured.

    Without it the request's host is used, which an attacker can choose (``Host:`` header):
    in production that is refused unless Flask checks hosts (``TRUSTED_HOSTS``/``SERVER_NAME``).
    """
    config = current_app.config
    path = url_for(f"{tenant.slug}.accounts.reset", token=token)
    base = str(config.get("PUBLIC_URL") or "").rstrip("/")
    if base:
        return base + path
    if config.get("PRODUCTION") and not (config.get("TRUSTED_HOSTS") or config.get("SERVER_NAME")):
        raise ResetLinkError("set GASPAY_PUBLIC_URL (or TRUSTED_HOSTS) for reset links")
    return url_for(f"{tenant.slug}.accounts.reset", token=token, _external=True)


def send_reset_link(tenant: Tenant, email: str) -> None:
    """Mail a reset link if the e-mail is a customer of this tenant; silent either way."""
    customer = find_customer(tenant.slug, email)
    if customer is None:
        log.info("password reset asked for an unknown e-mail in %s", tenant.slug)
        return

    def mail(token: str) -> None:
        # Inside the reset's write unit: the link and its e-mail commit together (the outbox
        # worker sends it after the commit, so the answer never waits for the mail server).
        body = render_template(
            "accounts/mail/reset.txt",
            customer=customer,
            link=reset_link(tenant, token),
            minutes=RESET_MINUTES,
        )
        queue_mail(
            customer.email,
            f"{tenant.name}: cree una nueva contraseña",
            body,
            tenant=tenant.slug,
            topic="password_reset",
        )

    try:
        create_reset(customer, then=mail)
    except ResetLinkError:
        log.exception("password reset e-mail for customer %s not sent", customer.id)
