"""Per-tenant gateway accounts from the deployment's environment, never from tenant files.

In sandbox mode a tenant without keys gets development keys that the local emulator knows;
in production such keys, or missing ones, stop the start-up with the variable's name.
"""

from __future__ import annotations

import dataclasses

from gaspay.config import ConfigError
from gaspay.tenancy.config import WOMPI_SECRETS, Tenant, WompiAccount

SANDBOX_MARK = "sandbox_dev"
SANDBOX_PREFIXES = {
    "public_key": "pub_test_",
    "private_key": "prv_test_",
    "integrity_secret": "test_integrity_",
    "events_secret": "test_events_",
}
SANDBOX_API_PATH = "/sandbox/wompi/v1"
SANDBOX_CHECKOUT_PATH = "/sandbox/wompi/checkout/p/"
WOMPI_API_URL = "https://production.wompi.co/v1"
WOMPI_CHECKOUT_URL = "https://checkout.wompi.co/p/"


def sandbox_value(slug: str, name: str) -> str:
    return f"{SANDBOX_PREFIXES[name]}{SANDBOX_MARK}_{slug.replace('-', '_')}"


def is_development_value(value: str) -> bool:
    return not value or SANDBOX_MARK in value


def wompi_account_for(tenant: Tenant, config) -> WompiAccount:
    prefix = f"{tenant.env_prefix}_WOMPI_"
    sandbox = bool(config.get("SANDBOX"))
    values: dict[str, str] = {}
    for name in WOMPI_SECRETS:
        value = str(config.get(prefix + name.upper(), "") or "")
        if not value and sandbox:
            value = sandbox_value(tenant.slug, name)
        values[name] = value
    base = str(config.get("SANDBOX_BASE_URL", "")).rstrip("/")
    values["api_url"] = str(
        config.get(prefix + "API_URL") or (base + SANDBOX_API_PATH if sandbox else WOMPI_API_URL)
    ).rstrip("/")
    values["checkout_url"] = str(
        config.get(prefix + "CHECKOUT_URL")
        or (base + SANDBOX_CHECKOUT_PATH if sandbox else WOMPI_CHECKOUT_URL)
    )
    for name in WOMPI_SECRETS:
        variable = f"GASPAY_{prefix}{name.upper()}"
        if not values[name]:
            raise ConfigError(f"{variable} is missing (tenant file {tenant.source})")
        if config.get("PRODUCTION") and is_development_value(values[name]):
            raise ConfigError(f"{variable} is a development value; set the real one")
    if config.get("PRODUCTION"):
        for name in ("api_url", "checkout_url"):
            if not values[name].startswith("https://"):
                raise ConfigError(f"GASPAY_{prefix}{name.upper()} must be an https:// URL")
    return WompiAccount(**values)


def bind_secrets(tenants: list[Tenant], config) -> list[Tenant]:
    return [dataclasses.replace(t, wompi=wompi_account_for(t, config)) for t in tenants]
