"""Tenants: configuration files -> Tenant objects -> one blueprint each; `g.tenant` per request."""

from gaspay.tenancy.config import Tenant, TenantConfigError

__all__ = ["Tenant", "TenantConfigError"]
