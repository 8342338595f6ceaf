"""Bare extension instances, bound to the app in create_app()."""

import click
from flask import Flask, g, request
from flask.cli import with_appcontext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def client_ip() -> str:
    """The payer's address; ProxyFix (configured by the operator) makes this the real one."""
    return get_remote_address() or request.remote_addr or "unknown"


class LazyMigrate:
    """Flask-Migrate, imported only when a migration needs it (``flask db …``, ``upgrade()``).

    Alembic and what it pulls in (Mako, Pygments) weigh about 11 MB in every process that never
    migrates: each web worker, the outbox worker, a CLI export (bench/staff_bench.py measures
    the exports' peak RSS). ``app.extensions["migrate"]`` is a stand-in that becomes the real
    configuration on first use, so Flask-Migrate's own functions work unchanged.
    """

    def init_app(self, app: Flask, db, directory: str) -> None:
        def load():
            from flask_migrate import Migrate

            if isinstance(app.extensions.get("migrate"), _PendingMigrate):
                Migrate(app, db, directory=directory)  # replaces the stand-in and the group
            return app.extensions["migrate"]

        app.extensions["migrate"] = _PendingMigrate(load)
        app.cli.add_command(_MigrationCommands(load), name="db")


class _PendingMigrate:
    def __init__(self, load):
        self._load = load

    def __getattr__(self, name):
        return getattr(self._load(), name)


def _group_options(directory, x_arg):
    g.directory = directory  # what Flask-Migrate's own group callback sets for its commands
    g.x_arg = x_arg


class _MigrationCommands(click.Group):
    """``flask db``: Flask-Migrate's command group, loaded when a command is asked for."""

    def __init__(self, load):
        super().__init__(
            "db",
            help="Perform database migrations.",
            params=[
                click.Option(["-d", "--directory"], default=None, help="Migration directory"),
                click.Option(["-x", "--x-arg"], multiple=True, help="Arguments for env.py"),
            ],
            callback=with_appcontext(_group_options),
        )
        self._load = load

    def _real(self) -> click.Group:
        self._load()
        from flask_migrate.cli import db as group

        return group

    def list_commands(self, ctx):
        return self._real().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._real().get_command(ctx, name)


db = SQLAlchemy(model_class=Base)
migrate = LazyMigrate()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=client_ip, default_limits=[])
