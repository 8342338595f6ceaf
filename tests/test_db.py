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


def test_alembic_is_loaded_only_when_a_migration_runs(tmp_path):
    """A web worker, the outbox worker and an export never migrate: they do not carry Alembic
    (about 10 MB); ``flask db upgrade`` still migrates, and ``db current`` sees the head."""
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'lazy.sqlite3'}"
    code = (
        "import sys\nfrom gaspay import create_app\n"
        f"create_app({{'DATABASE_URL': {url!r}, 'SECRET_KEY': 'k' * 40, 'SANDBOX': True}})\n"
        "assert 'alembic' not in sys.modules and 'flask_migrate' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GASPAY_")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    flask = [sys.executable, "-m", "flask", "--app", "gaspay", "db"]
    env |= {"GASPAY_DATABASE_URL": url}
    subprocess.run([*flask, "upgrade"], check=True, env=env, capture_output=True)
    current = subprocess.run([*flask, "current"], check=True, env=env, capture_output=True)
    assert "(head)" in current.stdout.decode()
