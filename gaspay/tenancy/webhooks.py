"""Where a company's billing system hears of payments: its outbound webhook endpoints.

Two ways to configure them, both allowed at once:

- ``GASPAY_<SLUG>_WEBHOOK_URL`` and ``GASPAY_<SLUG>_WEBHOOK_SECRET`` (every event);
- ``[[webhooks]]`` entries in the tenant file::

      [[webhooks]]
      url = "https://facturacion.insesp.co/gaspay/eventos"
      events = ["payment.approved", "payment.voided"]   # optional: every event by default
      secret_env = "GASPAY_INSESP_ERP_WEBHOOK_SECRET"   # the secret is never in the file

A secret is ``whsec_`` + base64 of 24-64 random bytes (Standard Webhooks); several,
separated by spaces, are all used to sign during a rotation. In production an endpoint must
be ``https://``; a missing or malformed secret stops the start-up with the variable's name.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

EVENT_TYPES = (
    "payment.approved",
    "payment.declined",
    "payment.failed",
    "payment.expired",
    "payment.voided",
    "payment.review",
)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{2,100}$")
MAX_URL = 500


@dataclass(frozen=True)
class WebhookSpec:
    """One ``[[webhooks]]`` entry of a tenant file (no secret: only where to find it)."""

    url: str
    secret_env: str
    events: tuple[str, ...] | None = None
    name: str = ""


@dataclass(frozen=True)
class WebhookEndpoint:
    """An endpoint with its signing secret(s), bound at start-up from the environment."""

    name: str
    url: str
    events: frozenset[str] | None
    secret_variable: str
    secrets: tuple[str, ...] = field(repr=False, compare=False, default=())

    def wants(self, event_type: str) -> bool:
        return self.events is None or event_type in self.events


def _valid_url(value) -> bool:
    if not isinstance(value, str) or len(value) > MAX_URL:
        return False
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and bool(parts.hostname) and not parts.username


def parse_webhooks(data: dict, path: Path, error: type[Exception]) -> tuple[WebhookSpec, ...]:
    """The ``[[webhooks]]`` entries; every error names the file and the field."""
    entries = data.get("webhooks", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise error(f"{path}: field 'webhooks' must be a list of [[webhooks]] tables")
    specs = []
    for i, entry in enumerate(entries):
        where = f"{path}: field 'webhooks[{i}]"
        unknown = set(entry) - {"url", "events", "secret_env", "name"}
        if unknown:
            raise error(f"{where}' has unknown keys {sorted(unknown)}")
        if not _valid_url(entry.get("url")):
            raise error(f"{where}.url' must be an https:// URL")
        secret_env = entry.get("secret_env")
        if not isinstance(secret_env, str) or not ENV_NAME_RE.match(secret_env):
            raise error(
                f"{where}.secret_env' must name the environment variable that holds the "
                "secret (e.g. GASPAY_INSESP_ERP_WEBHOOK_SECRET); the secret is never in the file"
            )
        events = entry.get("events")
        if events is not None:
            if (
                not isinstance(events, list)
                or not events
                or not all(isinstance(e, str) for e in events)
            ):
                raise error(f"{where}.events' must be a list of event types")
            unknown = sorted(set(events) - set(EVENT_TYPES))
            if unknown:
                raise error(f"{where}.events' has unknown types {unknown} (known: {EVENT_TYPES})")
            events = tuple(events)
        name = entry.get("name", "")
        if not isinstance(name, str) or len(name) > 60:
            raise error(f"{where}.name' must be a short text")
        specs.append(WebhookSpec(url=entry["url"], secret_env=secret_env, events=events, name=name))
    return tuple(specs)


def secret_from(variable: str, config) -> str:
    """A variable's value: the app's config (``GASPAY_`` stripped, as loaded) or the process
    environment."""
    key = variable.removeprefix("GASPAY_")
    value = config.get(key)
    if value in (None, ""):
        value = os.environ.get(variable, "")
    return str(value or "").strip()


def parse_secrets(value: str, variable: str, error: type[Exception]) -> tuple[str, ...]:
    """``whsec_…`` values (space- or comma-separated during a rotation), each checked."""
    values = tuple(v for v in re.split(r"[\s,]+", value) if v)
    if not values:
        raise error(f"{variable} is missing (the webhook's signing secret, whsec_…)")
    for secret in values:
        if not secret.startswith(SECRET_PREFIX):
            raise error(f"{variable} must start with {SECRET_PREFIX} (Standard Webhooks)")
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise error(f"{variable} is not whsec_ + base64") from None
        if not 24 <= len(key) <= 64:
            raise error(f"{variable} must hold 24 to 64 random bytes (it has {len(key)})")
    return values


def bind_webhooks(tenant, config, error: type[Exception]) -> tuple[WebhookEndpoint, ...]:
    """The tenant's endpoints with their secrets, from the environment and its file."""
    prefix = tenant.env_prefix
    endpoints = []
    url = str(config.get(f"{prefix}_WEBHOOK_URL") or "").strip()
    if url:
        variable = f"GASPAY_{prefix}_WEBHOOK_URL"
        if not _valid_url(url):
            raise error(f"{variable} must be an https:// URL")
        secret_variable = f"GASPAY_{prefix}_WEBHOOK_SECRET"
        endpoints.append(
            WebhookEndpoint(
                name="principal",
                url=url,
                events=None,
                secret_variable=secret_variable,
                secrets=parse_secrets(secret_from(secret_variable, config), secret_variable, error),
            )
        )
    for i, spec in enumerate(getattr(tenant, "webhook_specs", ()) or ()):
        endpoints.append(
            WebhookEndpoint(
                name=spec.name or f"webhooks[{i}]",
                url=spec.url,
                events=frozenset(spec.events) if spec.events else None,
                secret_variable=spec.secret_env,
                secrets=parse_secrets(secret_from(spec.secret_env, config), spec.secret_env, error),
            )
        )
    urls = [e.url for e in endpoints]
    if len(set(urls)) != len(urls):
        raise error(f"tenant {tenant.slug}: the same webhook URL is configured twice")
    if config.get("PRODUCTION"):
        for endpoint in endpoints:
            if not endpoint.url.startswith("https://"):
                raise error(
                    f"tenant {tenant.slug}: webhook {endpoint.name} must be an https:// URL "
                    "in production"
                )
    return tuple(endpoints)
