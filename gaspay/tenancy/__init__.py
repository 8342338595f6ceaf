"""Tenants: configuration files -> Tenant objects (with their secrets); `g.tenant` per request.

Imports no feature: the composition root (``gaspay/blueprints.py``) builds each tenant's
blueprint from the features it enables.
"""

from gaspay.tenancy.config import Tenant, TenantConfigError

__all__ = ["Tenant", "TenantConfigError"]
