"""The benchmark's reference endpoints live in bench/, mounted only by bench's own WSGI entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import endpoints

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def bench_client(make_app):
    app = make_app()
    endpoints.register(app)
    endpoints.register(app)  # twice is harmless (the entry may see an app that has them)
    return app, app.test_client()


def test_the_product_app_has_no_bench_endpoints(make_app):
    app = make_app()
    assert not [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/_bench")]
    assert app.test_client().get("/_bench/bare").status_code == 404


def test_bare_endpoints_once_bench_registers_them(bench_client):
    _, client = bench_client
    assert client.get("/_bench/bare").text == "ok"
    assert client.post("/_bench/bare").status_code == 200  # CSRF-exempt, as wrk posts it


def test_bench_query_floor_runs_the_lookups_query(bench_client, make_bill):
    make_bill(client="0021053")
    _, client = bench_client
    assert client.get("/_bench/query/insesp?n=0021053").text == "ok"
    assert client.get("/_bench/query/interservicios?n=0021053").text == "none"  # scoped
    assert client.get("/_bench/query/nadie?n=1").status_code == 404


def test_bench_driver_floor_reads_the_same_bills_through_psycopg(bench_client, make_bill):
    app, client = bench_client
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        assert client.get("/_bench/driver/insesp?n=0021053").status_code == 404
        pytest.skip("the driver floor is PostgreSQL's (psycopg) only")
    make_bill(client="0021053")
    assert client.get("/_bench/driver/insesp?n=0021053").text == "ok"
    assert client.get("/_bench/driver/insesp?n=21053").text == "ok"  # normalised as the lookup
    assert client.get("/_bench/driver/interservicios?n=0021053").text == "none"  # scoped
    assert client.get("/_bench/driver/nadie?n=1").status_code == 404
    endpoints._local.conn.close()  # this thread's connection (a worker keeps its own)


def test_bench_write_floor_updates_one_bill_and_commits(bench_client, make_bill):
    from gaspay.billing.models import Bill
    from gaspay.extensions import db

    app, client = bench_client
    bill = make_bill(client="0021053")
    with app.app_context():
        bill_id, before = bill.id, db.session.get(Bill, bill.id).updated_at
    assert client.post(f"/_bench/write?id={bill_id}").json == {"status": "ok"}
    with app.app_context():
        assert db.session.get(Bill, bill_id).updated_at != before


def test_bench_wsgi_entry_serves_the_bench_endpoints(database_url, tmp_path):
    """``endpoints:bench_app()`` as gunicorn loads it (``--pythonpath``), in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GASPAY_", "FLASK_"))}
    env |= {"GASPAY_DATABASE_URL": database_url, "GASPAY_INSTANCE_PATH": str(tmp_path),
            "GASPAY_TENANTS_DIR": str(ROOT / "instance" / "tenants"), "GASPAY_SECRET_KEY": "b" * 40,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}"}  # fmt: skip
    code = (
        "import endpoints; c = endpoints.bench_app().test_client(); "
        "print(c.get('/_bench/bare').text, c.post('/_bench/bare').status_code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["ok", "200"]
