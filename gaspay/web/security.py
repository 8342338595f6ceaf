"""Security headers on every response and cache rules for pages that show bills."""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from flask import Flask, g, request

from gaspay.web.templating import tenant_theme_css

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'{script_extra}",
        "style-src 'self'{style_hash}",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
# Google's reCAPTCHA widget, only on the pages that show it (tenants that turn it on).
RECAPTCHA_SCRIPTS = " https://www.google.com/recaptcha/ https://www.gstatic.com/recaptcha/"
RECAPTCHA_FRAMES = (
    "; frame-src https://www.google.com/recaptcha/ https://recaptcha.google.com/recaptcha/"
)
STATIC_MAX_AGE = 365 * 24 * 3600


@cache
def csp_for(theme_css: str | None, recaptcha: bool = False) -> str:
    style_hash = ""
    if theme_css is not None:
        digest = base64.b64encode(hashlib.sha256(theme_css.encode()).digest()).decode()
        style_hash = f" 'sha256-{digest}'"
    policy = CSP.format(style_hash=style_hash, script_extra=RECAPTCHA_SCRIPTS if recaptcha else "")
    return policy + (RECAPTCHA_FRAMES if recaptcha else "")


def init_app(app: Flask) -> None:
    if app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is None:
        # Static URLs carry a content hash (templating.static_url), so a year is safe.
        app.config["SEND_FILE_MAX_AGE_DEFAULT"] = STATIC_MAX_AGE

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        tenant = g.get("tenant")
        theme = tenant_theme_css(tenant) if tenant else None
        headers.setdefault(
            "Content-Security-Policy", csp_for(theme, bool(g.get("csp_allow_recaptcha")))
        )
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.is_secure or app.config.get("PRODUCTION"):
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint != "static":
            # Pages show bills, names and payments: never keep them in a shared or back cache.
            headers["Cache-Control"] = "no-store"
            response.vary.add("HX-Request")
        return response
