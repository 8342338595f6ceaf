"""Database behaviour that must hold on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from gaspay.db import write_unit
from gaspay.extensions import db


def test_write_units_begin_immediate_on_sqlite(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite-only: PostgreSQL needs no special BEGIN")
    statements = []
    listener = lambda conn, cursor, stmt, *a: statements.append(stmt)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        db.session.rollback()
        with write_unit():
            db.session.execute(text("SELECT 1"))
        db.session.execute(text("SELECT 2"))  # an ordinary read: a deferred BEGIN
        db.session.rollback()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert statements[:2] == ["BEGIN IMMEDIATE", "SELECT 1"]
    assert statements[2:4] == ["BEGIN", "SELECT 2"]


def test_sqlite_connections_enforce_foreign_keys_and_wal(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite-only pragmas")
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_migrations_match_the_models(app):
    """Every model change ships with its migration (`flask db check` on the migrated DB)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []
