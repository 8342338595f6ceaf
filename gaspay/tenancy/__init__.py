"""Tenants: configuration files -> Tenant objects -> one blueprint each; `g.tenant` per request."""

from flask import g

from gaspay.tenancy.config import Tenant, TenantConfigError


def current_tenant() -> Tenant:
    return g.tenant


__all__ = ["Tenant", "TenantConfigError", "current_tenant"]
