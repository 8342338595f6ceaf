"""Database helpers that must behave the same on SQLite and PostgreSQL.

SQLite needs ``BEGIN IMMEDIATE`` for read-then-write units (a deferred transaction that later
writes fails with "database is locked" regardless of the busy timeout), WAL mode and foreign
keys switched on per connection. PostgreSQL connections are tested before use only after they
sat idle (not on every checkout).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from gaspay.extensions import db

IMMEDIATE = "gaspay_sqlite_immediate"


def configure_engine(engine: Engine, ping_after_idle: float = 10.0) -> None:
    if engine.dialect.name != "sqlite":
        _ping_when_idle(engine, ping_after_idle)
        return

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Let SQLAlchemy emit BEGIN itself (pysqlite's own BEGIN is deferred and late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        immediate = connection.get_execution_options().get(IMMEDIATE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _ping_when_idle(engine: Engine, seconds: float) -> None:
    """Test a pooled connection before use only when it sat idle for ``seconds`` or more.

    ``pool_pre_ping`` pings on every checkout: one more round trip on every request. A
    connection returned a moment ago is alive unless the server died in between, and then the
    request's first statement fails and SQLAlchemy discards the pool anyway; a connection that
    sat idle (the night, a database restart, a firewall's idle timeout) is the one to test.
    Raising DisconnectionError makes the pool replace it (SQLAlchemy's documented recipe).
    """

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection, record, _proxy):
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception as error:
            raise exc.DisconnectionError(str(error)) from error


@contextmanager
def write_unit() -> Iterator[None]:
    """One read-then-write unit of work: begins IMMEDIATE on SQLite, commits or rolls back.

    Call it with no transaction open in the session (services start from a clean session).
    """
    session = db.session()
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={IMMEDIATE: True})
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
