"""The receipt as a PDF, from the same facts template as the receipt page (WeasyPrint).

``receipt_pdf(tenant, attempt)`` needs an app context (no request): the receipt page's
"Descargar comprobante (PDF)" and the receipt e-mail's attachment both call it. WeasyPrint
needs Pango (Debian: libpango-1.0-0, libpangoft2-1.0-0; ``make pdf-deps``). The renderer may
read only the app's own static files: no URL in a receipt makes it reach the network.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template

from gaspay.payments.receipts import receipt_context
from gaspay.timeutil import utcnow

log = logging.getLogger(__name__)


def receipt_html(tenant, attempt) -> str:
    """The PDF's HTML: the receipt's facts (in full) and the bills, in the company's colours."""
    static = Path(current_app.static_folder or "")
    logo = static / "tenants" / tenant.logo if tenant.logo else None
    return render_template(
        "outbox/receipt_pdf.html",
        **receipt_context(attempt, full=True),
        tenant=tenant,
        logo_url=logo.as_uri() if logo is not None and logo.is_file() else None,
        generated_at=utcnow(),
    )


def _static_fetcher(static: Path):
    """WeasyPrint's URL fetcher, limited to files under the app's static folder."""
    from weasyprint.urls import URLFetcher

    class StaticOnly(URLFetcher):
        def fetch(self, url, headers=None):
            path = Path(unquote(urlsplit(url).path)).resolve()
            if not path.is_relative_to(static):
                raise ValueError(f"receipt PDF may not load {url[:80]!r}")
            return super().fetch(url, headers)

    return StaticOnly(allowed_protocols=("file",), allow_redirects=False)


def receipt_pdf(tenant, attempt) -> bytes:
    """The receipt of ``attempt`` (of ``tenant``) as PDF bytes."""
    from weasyprint import HTML  # imported on first use: it loads Pango

    html = receipt_html(tenant, attempt)
    static = Path(current_app.static_folder or "").resolve()
    document = HTML(
        string=html, base_url=static.as_uri() + "/", url_fetcher=_static_fetcher(static)
    )
    return document.write_pdf()


def receipt_filename(attempt) -> str:
    return f"comprobante-{attempt.reference}.pdf"
