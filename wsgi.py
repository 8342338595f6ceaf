"""WSGI entry point for gunicorn: `gunicorn 'wsgi:app'`.

Behind a proxy, set GASPAY_PROXY_HOPS to the number of proxies in front of the app so that the
payer's real IP address reaches receipts and rate limits (werkzeug's ProxyFix).
"""

import os

from werkzeug.middleware.proxy_fix import ProxyFix

from gaspay import create_app

app = create_app()
_hops = int(os.environ.get("GASPAY_PROXY_HOPS", "0"))
if _hops:
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=_hops, x_proto=_hops, x_host=_hops)
