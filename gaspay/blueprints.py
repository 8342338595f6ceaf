"""The blueprint factory: one blueprint per tenant, assembled from the features it enables.

Part of the composition root (``create_app``): it is the one place that knows every feature,
so that ``gaspay.tenancy`` only turns tenant files into ``Tenant`` objects and imports none.
"""

from __future__ import annotations

from flask import Blueprint, Flask, g, render_template

from gaspay.tenancy.config import Tenant, load_tenants
from gaspay.tenancy.secrets import bind_secrets


def build_tenant_blueprint(tenant: Tenant) -> Blueprint:
    from gaspay import accounts
    from gaspay.billing.views import bp as billing_bp
    from gaspay.payments.pse_views import bp as pse_bp
    from gaspay.payments.result_views import bp as result_bp
    from gaspay.staff.views import bp as staff_bp
    from gaspay.webhooks.views import bp as webhooks_bp

    accounts.load_views()
    bp = Blueprint(tenant.slug, __name__, url_prefix=f"/{tenant.slug}")

    @bp.before_request
    def bind_tenant():
        g.tenant = tenant

    @bp.get("/", endpoint="home")
    def home():
        return render_template("tenancy/home.html")

    if tenant.offers("guest_lookup"):
        bp.register_blueprint(billing_bp)
    if tenant.offers("customer_accounts"):
        bp.register_blueprint(accounts.bp)
    if tenant.uses("pse"):
        bp.register_blueprint(pse_bp)
    if tenant.uses("wompi"):
        bp.register_blueprint(accounts.checkout_bp)  # the customer area's Web Checkout
    bp.register_blueprint(result_bp)
    bp.register_blueprint(webhooks_bp)
    bp.register_blueprint(staff_bp)  # the company's staff area, whatever flows it offers
    return bp


def register_tenants(app: Flask) -> None:
    tenants = bind_secrets(load_tenants(app.config["TENANTS_DIR"]), app.config)
    app.extensions["gaspay.tenants"] = {t.slug: t for t in tenants}
    for tenant in tenants:
        app.register_blueprint(build_tenant_blueprint(tenant))
