"""PostgreSQL connections are tested before use only after they sat idle (gaspay.db).

No ping on a busy connection (no round trip per request); a connection the server closed while
it sat idle is replaced before the request uses it, so the payer never sees the error.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from gaspay.extensions import db
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (SQLite has no server)")


def _kill(url: str, pid: int) -> int:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return len(
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid},
                ).all()
            )
    finally:
        engine.dispose()


def test_a_connection_killed_while_idle_is_replaced_before_use(make_app, database_url):
    app = make_app(DB_PING_AFTER_IDLE=0)  # every checkout counts as idle: always tested
    with app.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        db.session.remove()
        assert _kill(database_url, pid) == 1  # only this app's pooled connection
        # The pooled connection is dead; the ping finds it and the pool opens another.
        assert db.session.execute(text("SELECT 2")).scalar() == 2
        db.session.remove()


def test_a_recently_used_connection_is_not_pinged(make_app, database_url):
    """The contrast: without the idle test the dead connection reaches the statement (which
    fails once, and SQLAlchemy then replaces the pool's connections)."""
    app = make_app(DB_PING_AFTER_IDLE=3600)
    with app.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        db.session.remove()
        assert _kill(database_url, pid) == 1  # only this app's pooled connection
        with pytest.raises(DBAPIError) as caught:
            db.session.execute(text("SELECT 2"))
        assert caught.value.connection_invalidated
        db.session.remove()
        assert db.session.execute(text("SELECT 3")).scalar() == 3
        db.session.remove()
