"""Local gateway emulator: Wompi's API and Web Checkout, PSE's page and a bank page, and
PlacetoPay's WebCheckout (API, session page, notifications: ``placetopay.py``).

A separate fake service mounted on the same server under /sandbox. It imports nothing of
billing, payments or gateways; the app reaches it only over HTTP, through the base URLs a real
gateway would have. Merchant accounts come from the tenants' Wompi settings.

Config: SANDBOX (must be true; refused in production), SANDBOX_BASE_URL,
SANDBOX_EVENT_DELAY_SECONDS, SANDBOX_SEND_EVENTS, SANDBOX_EVENT_BACKOFF_SECONDS,
SANDBOX_ASYNC_URL_DELAY_SECONDS; for PlacetoPay also SANDBOX_PLACETOPAY_ACCEPT_SHA1,
SANDBOX_PLACETOPAY_SIGNATURE, SANDBOX_PLACETOPAY_NOTIFICATION_URL,
SANDBOX_PLACETOPAY_NOTIFICATION_RETRIES.
"""

from __future__ import annotations

from flask import Flask

from gaspay.sandbox import store
from gaspay.sandbox.events import sign_event, wait_for_events
from gaspay.sandbox.merchants import build_registry

__all__ = ["register_sandbox", "sign_event", "store", "wait_for_events"]


def register_sandbox(app: Flask) -> None:
    """Mount the emulator on `app` under /sandbox, with the tenants' merchant accounts."""
    from gaspay.extensions import csrf
    from gaspay.sandbox import api, checkout, pages, placetopay

    if app.config.get("PRODUCTION") or not app.config.get("SANDBOX"):
        raise RuntimeError("The gateway sandbox is only for development and tests (SANDBOX)")
    app.config.setdefault("SANDBOX_SEND_EVENTS", True)
    app.config.setdefault("SANDBOX_EVENT_DELAY_SECONDS", 0.5)
    app.config.setdefault("SANDBOX_ASYNC_URL_DELAY_SECONDS", 0.3)
    app.extensions["gaspay.sandbox"] = build_registry(app.extensions.get("gaspay.tenants", {}))
    csrf.exempt(api.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(checkout.bp)
    app.register_blueprint(pages.bp)
    placetopay.register(app, app.extensions.get("gaspay.tenants", {}))  # /sandbox/placetopay
    from gaspay.sandbox import mails

    app.register_blueprint(mails.bp)  # /sandbox/correos: the e-mails written to MAIL_DIR
