"""Security headers on every response, cache rules for pages that show bills, and request-size
limits.

Every request body is limited to ``MAX_CONTENT_LENGTH`` (``GASPAY_MAX_CONTENT_LENGTH``, 64 KiB
by default: forms are a few KB); past it the answer is 413 with a Spanish page, before anything
is parsed. A route that takes uploads raises its own limit with ``upload_limit``::

    @bp.route("/importar", methods=["GET", "POST"])
    @upload_limit(20 * 1024 * 1024)
    def import_bills(): ...
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable
from functools import cache
from typing import TypeVar

from flask import Flask, current_app, g, request

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
UPLOAD_LIMIT_ATTR = "gaspay_upload_limit"
View = TypeVar("View", bound=Callable)


def upload_limit(nbytes: int) -> Callable[[View], View]:
    """Let one view accept bodies up to ``nbytes`` instead of ``MAX_CONTENT_LENGTH``.

    Put it on the view function, next to ``@bp.route`` (any order with the limiter's
    decorators: they keep the mark). The limit is set on the request before anything reads the
    body, CSRF protection included, and a bigger body still answers 413. Multipart file parts go
    to temporary files; the other fields stay under Flask's ``MAX_FORM_MEMORY_SIZE``.
    """
    if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes <= 0:
        raise ValueError("upload_limit needs a positive number of bytes")

    def mark(view: View) -> View:
        @functools.wraps(view)
        def limited(*args, **kwargs):
            return view(*args, **kwargs)

        setattr(limited, UPLOAD_LIMIT_ATTR, nbytes)
        return limited  # type: ignore[return-value]

    return mark


def _apply_upload_limit() -> None:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    limit = getattr(view, UPLOAD_LIMIT_ATTR, None)
    if limit is not None:
        request.max_content_length = limit


SUBRESOURCE_TYPES = frozenset({"text/javascript", "application/javascript", "text/css"})


@cache
def csp_for(theme_css: str | None, recaptcha: bool = False) -> str:
    style_hash = ""
    if theme_css is not None:
        digest = base64.b64encode(hashlib.sha256(theme_css.encode()).digest()).decode()
        style_hash = f" 'sha256-{digest}'"
    policy = CSP.format(style_hash=style_hash, script_extra=RECAPTCHA_SCRIPTS if recaptcha else "")
    return policy + (RECAPTCHA_FRAMES if recaptcha else "")


def init_app(app: Flask) -> None:
    # First of all the before-request functions: CSRF protection (registered earlier) reads the
    # form, and a body's limit must be set before anything reads it.
    app.before_request_funcs.setdefault(None, []).insert(0, _apply_upload_limit)
    if app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is None:
        # Static URLs carry a content hash (templating.static_url), so a year is safe.
        app.config["SEND_FILE_MAX_AGE_DEFAULT"] = STATIC_MAX_AGE

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        if response.mimetype not in SUBRESOURCE_TYPES:
            # Document headers: a script or a stylesheet is never a document (it cannot be
            # framed, has no policy of its own, asks for no camera, and its requests go out
            # under its page's referrer policy): on those they are bytes on a phone's plan and
            # nothing else. Anything that can render (HTML, SVG, JSON shown
            # by a browser) keeps them.
            tenant = g.get("tenant")
            theme = tenant_theme_css(tenant) if tenant else None
            headers.setdefault(
                "Content-Security-Policy", csp_for(theme, bool(g.get("csp_allow_recaptcha")))
            )
            headers["X-Frame-Options"] = "DENY"
            headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
            headers["Referrer-Policy"] = "same-origin"
        headers["X-Content-Type-Options"] = "nosniff"
        if request.is_secure or app.config.get("PRODUCTION"):
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint != "static":
            # Pages show bills, names and payments: never keep them in a shared or back cache.
            headers["Cache-Control"] = "no-store"
            response.vary.add("HX-Request")
        return response
