"""Database helpers that must behave the same on SQLite and PostgreSQL.

SQLite needs ``BEGIN IMMEDIATE`` for read-then-write units (a deferred transaction that later
writes fails with "database is locked" regardless of the busy timeout), WAL mode and foreign
keys switched on per connection. PostgreSQL needs nothing special here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

from gaspay.extensions import db

IMMEDIATE = "gaspay_sqlite_immediate"


def configure_engine(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
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
