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
        "script-src 'self'",
        "style-src 'self'{style_hash}",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
STATIC_MAX_AGE = 365 * 24 * 3600


@cache
def csp_for(theme_css: str | None) -> str:
    if theme_css is None:
        return CSP.format(style_hash="")
    digest = base64.b64encode(hashlib.sha256(theme_css.encode()).digest()).decode()
    return CSP.format(style_hash=f" 'sha256-{digest}'")


def init_app(app: Flask) -> None:
    if app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is None:
        # Static URLs carry a content hash (templating.static_url), so a year is safe.
        app.config["SEND_FILE_MAX_AGE_DEFAULT"] = STATIC_MAX_AGE

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        tenant = g.get("tenant")
        theme = tenant_theme_css(tenant) if tenant else None
        headers.setdefault("Content-Security-Policy", csp_for(theme))
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.is_secure or app.config.get("PRODUCTION"):
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint != "static":
            # Pages show bills, names and payments: never keep them in a shared or back cache.
            headers["Cache-Control"] = "no-store"
            headers.add("Vary", "HX-Request")
        return response
