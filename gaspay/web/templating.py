"""Template filters and globals: es-CO formats, tenant URLs, hashed static URLs, htmx helpers."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from urllib.parse import quote

from flask import Flask, current_app, g, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from gaspay import formatting


def is_htmx() -> bool:
    """True for an htmx request that wants a fragment (a boosted one wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def render(page: str, fragment: str, **context) -> str:
    """One URL, two renderings: the fragment for htmx, the full page (which includes it) else."""
    return render_template(fragment if is_htmx() else page, **context)


URLS_KEPT = 4096  # built tenant URLs kept per app (a page asks for the same dozen or so)


def tenant_url(endpoint: str, **values) -> str:
    """`tenant_url("billing.lookup")` -> `/insesp/factura` for the current tenant.

    A relative URL depends only on the app's URL map (fixed once the app is built), the mount
    point and the arguments, so each is built once per app: werkzeug's builder costs about
    20 µs a call, and the notice list asks for 18."""
    full = f"{g.tenant.slug}.{endpoint}"
    try:
        key = (request.script_root, full, *sorted(values.items()))
        hash(key)
    except TypeError:  # an unhashable argument: built every time
        return url_for(full, **values)
    built = current_app.extensions.setdefault("gaspay.tenant_urls", {})
    url = built.get(key)
    if url is None:
        if len(built) >= URLS_KEPT:
            built.clear()
        url = built[key] = url_for(full, **values)
    return url


@cache
def _static_hash(static_folder: str, filename: str) -> str:
    data = (Path(static_folder) / filename).read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


INLINE_LOGO_MAX = 2048  # bytes: a logo this small costs less inline than its own request


@cache
def _inline_logo(static_folder: str, filename: str) -> str | None:
    path = Path(static_folder) / "tenants" / filename
    if path.suffix != ".svg" or not path.is_file() or path.stat().st_size > INLINE_LOGO_MAX:
        return None
    svg = path.read_text(encoding="utf-8").strip().replace('"', "'")
    return "data:image/svg+xml," + quote(svg, safe=":/=;,()")


def logo_src(tenant) -> str:
    """The tenant's logo: small SVGs inline as a data: URL (the CSP allows data: images), so a
    phone makes one request fewer per page; larger logos as a cached static file."""
    return _inline_logo(current_app.static_folder, tenant.logo) or static_url(
        "tenants/" + tenant.logo
    )


_static_urls: dict[tuple[str, str, str], str] = {}


def static_url(filename: str) -> str:
    """A content-hashed URL, so static files can be cached for a year and still change (built
    once per file and mount point: every page asks for the same few)."""
    key = (current_app.static_folder, request.script_root if request else "", filename)
    url = _static_urls.get(key)
    if url is None:
        url = url_for(
            "static", filename=filename, v=_static_hash(current_app.static_folder, filename)
        )
        _static_urls[key] = url
    return url


def csrf_field() -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(generate_csrf())


def tenant_theme_css(tenant) -> str:
    """The tenant's brand colour as an inline style; its hash is allowed by the CSP."""
    return f":root{{--brand:{tenant.brand_color}}}"


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        money=formatting.money,
        fecha=formatting.date,
        fecha_hora=formatting.datetime,
        mask_email=formatting.mask_email,
        mask_phone=formatting.mask_phone,
    )
    app.jinja_env.globals.update(
        tenant_url=tenant_url,
        static_url=static_url,
        logo_src=logo_src,
        is_htmx=is_htmx,
        csrf_field=csrf_field,
        tenant_theme_css=tenant_theme_css,
    )
    app.context_processor(lambda: {"tenant": g.get("tenant")})
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
