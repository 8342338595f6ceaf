"""Diagnostics of the HTTP benchmark: one request per scenario in-process, the SQL it sends,
its transactions, pool checkouts and Redis commands, and the plan of each query."""

from __future__ import annotations

import contextlib
import functools
import os
from collections import Counter

import _data
import _wrk
from _browser import CSRF_RE
from _scenarios import EngineSetup, reserved_event
from _servers import redis_commands


@contextlib.contextmanager
def patched_environ(env: dict):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _cookies_from(response, jar: dict) -> None:
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]


def diagnose(setup: EngineSetup, routes) -> dict:
    """One request per scenario in-process (Flask test client, the servers' configuration):
    the SQL statements it runs, its transactions and pool checkouts, its Redis commands, and
    the plan of each SELECT/UPDATE/DELETE."""
    results: dict = {}
    customer = setup.customer
    plans_for = {"lookup": setup.large.env, "notices": setup.small.env, "events": setup.events.env}
    for scenario, env in plans_for.items():
        if scenario == "notices" and not (routes["accounts"] and customer):
            continue
        results[scenario] = _diagnose_one(setup, scenario, env, routes, customer)
    return results


def _diagnose_one(setup: EngineSetup, scenario: str, env: dict, routes, customer) -> dict:
    from sqlalchemy import event

    from gaspay import create_app
    from gaspay.extensions import db

    with patched_environ(env):
        app = create_app()
    with app.app_context():
        engine = db.engine
    statements: list[tuple[str, object]] = []
    calls: Counter = Counter()

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    def counter(name):
        def count(*_args, **_kwargs):
            calls[name] += 1

        return count

    hooks = [
        (engine, "before_cursor_execute", capture),
        (engine, "begin", counter("BEGIN")),
        (engine, "commit", counter("COMMIT")),
        (engine, "rollback", counter("ROLLBACK")),
        (engine.pool, "checkout", counter("pool checkout")),
    ]
    for target, name, fn in hooks:
        event.listen(target, name, fn)
    client = app.test_client(use_cookies=False)
    jar: dict[str, str] = {}
    # The test client speaks https (PREFERRED_URL_SCHEME): a browser's Referer is due.
    base_headers = {"User-Agent": _wrk.USER_AGENT, "Referer": "https://localhost/"}

    def headers(extra=None):
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        return {**base_headers, "Cookie": cookie, **(extra or {})}

    if scenario == "lookup":
        page = client.get(routes["guest"]["lookup"], headers=headers())
        _cookies_from(page, jar)
        token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
        number = _data.lookup_numbers(setup.large.rows, 3)[1]
        call = functools.partial(
            client.post,
            routes["guest"]["lookup"],
            data={"csrf_token": token, "numero": number},
            headers=headers({"HX-Request": "true"}),
        )
    elif scenario == "notices":
        accounts = routes["accounts"]
        page = client.get(accounts["login"], headers=headers())
        _cookies_from(page, jar)
        token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
        form = {
            "csrf_token": token,
            "email": customer["email"],
            "password": customer["password"],
            "next": "",
        }
        _cookies_from(client.post(accounts["login"], data=form, headers=headers()), jar)
        call = functools.partial(client.get, accounts["notices"], headers=headers())
    else:
        checksum, body = reserved_event(setup, 1)
        event_headers = {"Content-Type": "application/json", "X-Event-Checksum": checksum}
        call = functools.partial(
            client.post, routes["guest"]["events"], data=body, headers=headers(event_headers)
        )
    if scenario != "events":
        call()  # warm: first-request work is not per-request work
    statements.clear()
    calls.clear()
    redis_before = redis_commands()
    response = call()
    redis_after = redis_commands()
    for target, name, fn in hooks:
        event.remove(target, name, fn)
    captured = list(statements)
    plans = []
    with app.app_context():
        with engine.connect() as conn:
            for statement, parameters in captured:
                verb = statement.lstrip().split(None, 1)[0].upper()
                if verb in ("SELECT", "UPDATE", "DELETE"):
                    plan = explain(conn, statement, parameters, verb)
                    plans.append({"sql": " ".join(statement.split()), "plan": plan})
            conn.rollback()
        db.session.remove()
    engine.dispose()
    return {
        "status": response.status_code,
        "statements": len(captured),
        "transaction_calls": dict(calls),
        "pre_ping": bool(getattr(engine.pool, "_pre_ping", False)),
        "redis_commands": (
            redis_after - redis_before - 1
            if redis_before is not None and redis_after is not None
            else None
        ),
        "sql": [" ".join(s.split())[:160] for s, _ in captured],
        "plans": plans,
        "database_rows": {"lookup": setup.large.rows, "notices": setup.small.rows}.get(
            scenario, setup.events.rows
        ),
    }


def explain(conn, statement: str, parameters, verb: str) -> list[str]:
    try:
        if conn.dialect.name == "postgresql":
            analyze = "ANALYZE, BUFFERS, " if verb == "SELECT" else ""
            rows = conn.exec_driver_sql(
                f"EXPLAIN ({analyze}COSTS OFF) {statement}", parameters
            ).all()
            return [r[0] for r in rows]
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        return [r[-1] for r in rows]
    except Exception as exc:  # a plan is diagnostic only
        conn.rollback()
        return [f"(no plan: {str(exc).splitlines()[0]})"]
