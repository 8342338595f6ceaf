"""The benchmark's reference endpoints live in bench/, mounted only by bench's own WSGI entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import endpoints

ROOT = Path(__file__).resolve().parent.parent


def test_the_product_app_has_no_bench_endpoints(make_app):
    app = make_app()
    assert not [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/_bench")]
    assert app.test_client().get("/_bench/bare").status_code == 404


def test_bare_endpoints_once_bench_registers_them(make_app):
    app = make_app()
    endpoints.register(app)
    endpoints.register(app)  # twice is harmless (the entry may see an app that has them)
    client = app.test_client()
    assert client.get("/_bench/bare").text == "ok"
    assert client.post("/_bench/bare").status_code == 200


def test_bench_query_floor_runs_the_lookups_query(make_app, make_bill):
    make_bill(client="0021053")
    app = make_app()
    endpoints.register(app)
    client = app.test_client()
    assert client.get("/_bench/query/insesp?n=0021053").text == "ok"
    assert client.get("/_bench/query/interservicios?n=0021053").text == "none"  # scoped
    assert client.get("/_bench/query/nadie?n=1").status_code == 404


def test_bench_wsgi_entry_serves_the_bare_endpoints(database_url, tmp_path):
    """``bench/_wsgi.py`` as gunicorn imports it (``--pythonpath bench``), in its own process;
    the POST passes CSRF as the benchmark's does (the view is exempt)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GASPAY_", "FLASK_"))}
    env.update(
        {
            "GASPAY_DATABASE_URL": database_url,
            "GASPAY_INSTANCE_PATH": str(tmp_path),
            "GASPAY_TENANTS_DIR": str(ROOT / "instance" / "tenants"),
            "GASPAY_SECRET_KEY": "b" * 40,
        }
    )
    code = (
        "import _wsgi; c = _wsgi.app.test_client(); "
        "print(c.get('/_bench/bare').text, c.post('/_bench/bare').status_code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT / "bench")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["ok", "200"]
