"""Fixtures of the attack suite."""

from __future__ import annotations

import pytest

from gaspay import create_app
from gaspay.extensions import db
from tests.test_config import production


@pytest.fixture
def production_app(database_url):
    """`production_app(**overrides)`: an app as GASPAY_ENV=production builds it; its database
    connections are closed after the test (on PostgreSQL an open one would outlive the run)."""
    apps = []

    def factory(**extra):
        app = create_app(production(database_url, **extra))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
