"""gunicorn entry of ``bench/http_bench.py``: ``wsgi:app`` plus the bare reference endpoints.

The app is the one ``wsgi.py`` builds, from the same ``GASPAY_*`` environment (the benchmark
sets ``GASPAY_ENV=production``, so every production start-up check runs). The blueprint of
``bench/endpoints.py`` (``/_bench/bare``, GET and POST, and ``/_bench/query/<slug>``) is
registered here, in this bench-only entry point that no deployment uses: the product package
has no benchmark endpoints. The bare endpoints therefore go through the same server, worker,
middleware, ``before_request`` / ``after_request`` hooks and configuration as the pages
measured beside them.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import endpoints  # noqa: E402
from wsgi import app  # noqa: E402

endpoints.register(app)
