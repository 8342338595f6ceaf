"""Customer accounts: login, logout, password reset, "Mis avisos de cobro", "Mis pagos", and
paying a notice through the hosted checkout.

The blueprints are defined here and each view module registers its routes on them: ``views``
(login and the rest of "Cuenta"), ``notice_views`` (notices and payments) on ``bp``, and
``checkout_views`` on ``checkout_bp`` (its own name, so its endpoints stay ``checkout.*``).
The view modules are loaded by ``load_views`` only, so that importing a model or a service of
this package does not import every view.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("accounts", __name__, url_prefix="/clientes")
checkout_bp = Blueprint("checkout", __name__, url_prefix="/clientes")


def load_views() -> None:
    """Import the view modules: each registers its routes on ``bp`` or ``checkout_bp``."""
    from gaspay.accounts import checkout_views, notice_views, views  # noqa: F401
