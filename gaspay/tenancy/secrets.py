"""Per-tenant gateway accounts from the deployment's environment, never from tenant files.

In sandbox mode a tenant without keys gets development keys that the local emulator knows;
in production such keys, or missing ones, stop the start-up with the variable's name.
"""

from __future__ import annotations

import dataclasses
import hashlib

from gaspay.config import ConfigError
from gaspay.tenancy.config import (
    PLACETOPAY_SECRETS,
    WOMPI_SECRETS,
    PlacetoPayAccount,
    Tenant,
    WompiAccount,
)
from gaspay.tenancy.webhooks import bind_webhooks

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
SANDBOX_PLACETOPAY_PATH = "/sandbox/placetopay"
PLACETOPAY_BASE_URL = "https://checkout.placetopay.com"  # production, CO (docs/placetopay.md)
PLACETOPAY_LOGIN_MAX = 32


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


def placetopay_sandbox_value(slug: str, name: str) -> str:
    """The development login or secret key the emulator knows (a login fits in 32 characters)."""
    if name == "secret_key":
        return f"p2p_secret_{SANDBOX_MARK}_{slug.replace('-', '_')}"
    login = f"{SANDBOX_MARK}_{slug.replace('-', '_')}"
    if len(login) > PLACETOPAY_LOGIN_MAX:
        login = f"{SANDBOX_MARK}_{hashlib.sha256(slug.encode()).hexdigest()[:20]}"
    return login


def placetopay_account_for(tenant: Tenant, config) -> PlacetoPayAccount:
    """``GASPAY_<SLUG>_PLACETOPAY_LOGIN``, ``_SECRET_KEY``, ``_BASE_URL``, checked like Wompi's."""
    prefix = f"{tenant.env_prefix}_PLACETOPAY_"
    sandbox = bool(config.get("SANDBOX"))
    values: dict[str, str] = {}
    for name in PLACETOPAY_SECRETS:
        value = str(config.get(prefix + name.upper(), "") or "")
        if not value and sandbox:
            value = placetopay_sandbox_value(tenant.slug, name)
        values[name] = value
    base = str(config.get("SANDBOX_BASE_URL", "")).rstrip("/")
    values["base_url"] = str(
        config.get(prefix + "BASE_URL")
        or (base + SANDBOX_PLACETOPAY_PATH if sandbox else PLACETOPAY_BASE_URL)
    ).rstrip("/")
    for name in PLACETOPAY_SECRETS:
        variable = f"GASPAY_{prefix}{name.upper()}"
        if not values[name]:
            raise ConfigError(f"{variable} is missing (tenant file {tenant.source})")
        if config.get("PRODUCTION") and is_development_value(values[name]):
            raise ConfigError(f"{variable} is a development value; set the real one")
    if len(values["login"]) > PLACETOPAY_LOGIN_MAX:
        raise ConfigError(f"GASPAY_{prefix}LOGIN is longer than {PLACETOPAY_LOGIN_MAX} characters")
    if config.get("PRODUCTION") and not values["base_url"].startswith("https://"):
        raise ConfigError(f"GASPAY_{prefix}BASE_URL must be an https:// URL")
    return PlacetoPayAccount(**values)


def bind_secrets(tenants: list[Tenant], config) -> list[Tenant]:
    return [
        dataclasses.replace(
            t,
            # A tenant only PlacetoPay serves needs no Wompi keys (and the other way round).
            wompi=wompi_account_for(t, config)
            if not t.providers or t.uses_provider("wompi")
            else None,
            placetopay=placetopay_account_for(t, config) if t.uses_provider("placetopay") else None,
            webhooks=bind_webhooks(t, config, ConfigError),
        )
        for t in tenants
    ]
