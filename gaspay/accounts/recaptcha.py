"""reCAPTCHA v2 ("No soy un robot"), verified on the server with Google's `siteverify`.

Per-tenant keys come from the deployment's configuration (``GASPAY_<SLUG>_RECAPTCHA_SITE_KEY``
and ``…_SECRET_KEY``); the tenant file only says whether it is on (``recaptcha = true``).
It fails closed: when Google cannot be reached, or the keys are missing, nobody gets in.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import requests
from flask import current_app, g

from gaspay.tenancy.config import Tenant

log = logging.getLogger(__name__)

VERIFY_URL = "https://www.google.com/recaptcha/api/siteverify"
SCRIPT_URL = "https://www.google.com/recaptcha/api.js?hl=es-419"
TIMEOUT_SECONDS = 5
FIELD = "g-recaptcha-response"
MAX_ANSWER = 4096
# Google's answers that mean our configuration is wrong, not the payer's answer.
CONFIG_ERRORS = frozenset({"missing-input-secret", "invalid-input-secret"})

MESSAGES = {
    "failed": "Marque la casilla «No soy un robot» (reCAPTCHA) e intente de nuevo.",
    "unavailable": (
        "No pudimos comprobar el reCAPTCHA con Google en este momento. Por su seguridad no es "
        "posible continuar sin esa verificación; intente de nuevo en unos minutos."
    ),
}


class Outcome(enum.Enum):
    OK = "ok"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"

    @property
    def message(self) -> str | None:
        return MESSAGES.get(self.value)


@dataclass(frozen=True)
class Widget:
    """What a page needs to show the checkbox (the site key is public by design)."""

    enabled: bool
    site_key: str | None = None
    script_url: str = SCRIPT_URL


def _keys(tenant: Tenant) -> tuple[str, str]:
    config = current_app.config
    prefix = tenant.env_prefix
    return (
        str(config.get(f"{prefix}_RECAPTCHA_SITE_KEY") or ""),
        str(config.get(f"{prefix}_RECAPTCHA_SECRET_KEY") or ""),
    )


def widget(tenant: Tenant) -> Widget:
    """The checkbox for a page; marks the response (``g.csp_allow_recaptcha``) so the CSP can
    allow Google's script and frame on this page only."""
    if not tenant.recaptcha:
        return Widget(enabled=False)
    site_key, _ = _keys(tenant)
    g.csp_allow_recaptcha = bool(site_key)
    return Widget(enabled=True, site_key=site_key or None)


def verify(tenant: Tenant, answer: str | None, remote_ip: str | None) -> Outcome:
    """Ask Google about the payer's answer; OK right away when the tenant has it off."""
    if not tenant.recaptcha:
        return Outcome.OK
    site_key, secret = _keys(tenant)
    if not site_key or not secret:
        log.error("reCAPTCHA is on for %s but its keys are not configured", tenant.slug)
        return Outcome.UNAVAILABLE
    if not answer or len(answer) > MAX_ANSWER:
        return Outcome.FAILED
    data = {"secret": secret, "response": answer}
    if remote_ip:
        data["remoteip"] = remote_ip
    try:
        response = requests.post(VERIFY_URL, data=data, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("reCAPTCHA siteverify unreachable for %s: %s", tenant.slug, type(exc).__name__)
        return Outcome.UNAVAILABLE
    if not isinstance(body, dict):
        return Outcome.UNAVAILABLE
    if body.get("success") is True:
        return Outcome.OK
    codes = body.get("error-codes") or []
    if isinstance(codes, list) and CONFIG_ERRORS.intersection(map(str, codes)):
        log.error("reCAPTCHA secret refused by Google for %s: %s", tenant.slug, codes)
        return Outcome.UNAVAILABLE
    return Outcome.FAILED
