"""Tenant configuration files (TOML) -> validated, immutable Tenant objects.

A tenant file describes a company: who it is, which payer flows it offers and which gateways it
uses. Secrets are not in the file; they are read from the deployment's configuration
(``GASPAY_<SLUG>_WOMPI_*``, ``GASPAY_<SLUG>_PLACETOPAY_*``) when the app starts.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from gaspay.tenancy.asobancaria import AsobancariaSettings, parse_asobancaria
from gaspay.tenancy.webhooks import WebhookEndpoint, WebhookSpec, parse_webhooks

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
NIT_RE = re.compile(r"^[0-9.]{6,15}-[0-9]$")
COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
FLOWS = {"guest_lookup", "customer_accounts"}
GATEWAYS = {"pse", "wompi"}
PROVIDERS = {"wompi", "placetopay"}
# Who can serve each way to pay: the PSE step on either; the hosted (Web Checkout) hand-off only
# on Wompi (PlacetoPay's card payments are on its own session page, reached by the PSE step).
PROVIDERS_OF = {"pse": {"wompi", "placetopay"}, "wompi": {"wompi"}}
RESERVED_SLUGS = {"static", "sandbox", "healthz", "admin", "api"}
MIN_CONTRAST = 4.5  # WCAG 2.2 AA for normal text, white on the brand colour
WOMPI_SECRETS = ("public_key", "private_key", "integrity_secret", "events_secret")
PLACETOPAY_SECRETS = ("login", "secret_key")


class TenantConfigError(ValueError):
    """A tenant file is unusable; the message names the file and the field."""


@dataclass(frozen=True)
class WompiAccount:
    """One Wompi merchant account (per tenant, never shared)."""

    public_key: str
    private_key: str
    integrity_secret: str
    events_secret: str
    api_url: str
    checkout_url: str

    @property
    def environment(self) -> str:
        return "prod" if self.public_key.startswith("pub_prod_") else "test"


@dataclass(frozen=True)
class PlacetoPayAccount:
    """One PlacetoPay (Evertec) WebCheckout site: its login, secret key and API base URL."""

    login: str
    secret_key: str
    base_url: str


@dataclass(frozen=True)
class PartialPayments:
    """[partial_payments]: the least a payer may pay, and which bills accept it."""

    minimum_cents: int
    bills: str = "all"  # "all" or "overdue"

    def accepts(self, overdue: bool) -> bool:
        return self.bills == "all" or overdue


@dataclass(frozen=True)
class Tenant:
    slug: str
    name: str
    legal_name: str
    nit: str
    support_phone: str
    support_email: str
    brand_color: str
    logo: str | None
    flows: frozenset[str]
    gateways: tuple[str, ...]
    pay_overdue: bool = False
    # A payment the gateway keeps answering PENDING past this many hours goes to review.
    pending_review_hours: int = 24
    # Several bills in one payment: refuse a selection that leaves an older payable bill unpaid.
    pay_oldest_first: bool = False
    # Partial payments ("abono"): None when the company does not accept them.
    partial: PartialPayments | None = None
    terms_url: str | None = None
    payment_description: str = "Factura {client}"
    recaptcha: bool = False
    source: str = ""
    # The Asobancaria 2001 export's settings (the staff area refuses that export without them).
    asobancaria: AsobancariaSettings | None = None
    wompi: WompiAccount | None = field(default=None, compare=False, repr=False)
    placetopay: PlacetoPayAccount | None = field(default=None, compare=False, repr=False)
    # (gateway, provider) for each [gateways.*] entry: who serves that way to pay.
    providers: tuple[tuple[str, str], ...] = ()
    # Outbound webhooks: the file's [[webhooks]] entries, and the endpoints bound with their
    # secrets from the environment (tenancy/webhooks.py).
    webhook_specs: tuple[WebhookSpec, ...] = ()
    webhooks: tuple[WebhookEndpoint, ...] = field(default=(), compare=False, repr=False)

    def offers(self, flow: str) -> bool:
        return flow in self.flows

    def uses(self, gateway: str) -> bool:
        return gateway in self.gateways

    def provider_of(self, gateway: str) -> str | None:
        return dict(self.providers).get(gateway)

    def uses_provider(self, provider: str) -> bool:
        return any(p == provider for _, p in self.providers)

    @property
    def env_prefix(self) -> str:
        return self.slug.upper().replace("-", "_")


def _relative_luminance(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_with_white(hex_colour: str) -> float:
    return 1.05 / (_relative_luminance(hex_colour) + 0.05)


def _require(data: dict, key: str, path: Path, kind=str):
    if key not in data:
        raise TenantConfigError(f"{path}: missing field '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        raise TenantConfigError(f"{path}: field '{key}' must be a non-empty {kind.__name__}")
    return value


def _terms_url(data: dict, path: Path) -> str | None:
    """An ``https://`` address, or a path of this portal (``/<slug>/…``); payers follow it."""
    if "terms_url" not in data:
        return None
    value = data["terms_url"]
    if isinstance(value, str) and all(ch.isprintable() and ch not in " \\" for ch in value):
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts and parts.scheme == "https" and parts.hostname:
            return value
        if parts and not parts.scheme and value.startswith("/") and not value.startswith("//"):
            return value
    raise TenantConfigError(
        f"{path}: field 'terms_url' must be an https:// URL (or a path of this portal like "
        "/<slug>/clientes/terminos)"
    )


def parse_tenant(data: dict, path: Path) -> Tenant:
    """Validate one tenant's mapping; every error names the file and the field."""
    slug = _require(data, "slug", path)
    if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        raise TenantConfigError(
            f"{path}: field 'slug' must be 2-31 lowercase letters, digits or '-' and not reserved"
        )
    nit = _require(data, "nit", path)
    if not NIT_RE.match(nit):
        raise TenantConfigError(f"{path}: field 'nit' must look like 890.123.456-7")
    colour = _require(data, "brand_color", path)
    if not COLOUR_RE.match(colour):
        raise TenantConfigError(f"{path}: field 'brand_color' must be a colour like #0b5394")
    if contrast_with_white(colour) < MIN_CONTRAST:
        raise TenantConfigError(
            f"{path}: field 'brand_color' {colour} is too light for white text "
            f"(contrast {contrast_with_white(colour):.2f}:1, needs {MIN_CONTRAST}:1)"
        )
    flows = _require(data, "flows", path, list)
    unknown = set(flows) - FLOWS
    if not flows or unknown:
        raise TenantConfigError(
            f"{path}: field 'flows' must list some of {sorted(FLOWS)}, got {sorted(unknown)}"
        )
    gateways = _require(data, "gateways", path, dict)
    unknown = set(gateways) - GATEWAYS
    if not gateways or unknown:
        raise TenantConfigError(
            f"{path}: field 'gateways' must have some of {sorted(GATEWAYS)}, got {sorted(unknown)}"
        )
    for name, settings in gateways.items():
        provider = settings.get("provider", "wompi") if isinstance(settings, dict) else None
        offered = PROVIDERS_OF.get(name, PROVIDERS)
        if provider not in offered:
            raise TenantConfigError(
                f"{path}: field 'gateways.{name}.provider' must be one of {sorted(offered)}"
            )
    if "guest_lookup" in flows and "pse" not in gateways:
        raise TenantConfigError(f"{path}: field 'gateways' needs 'pse' for the guest_lookup flow")
    if "customer_accounts" in flows and not gateways:
        raise TenantConfigError(f"{path}: field 'gateways' is empty")
    for key in ("pay_overdue", "recaptcha"):
        if key in data and not isinstance(data[key], bool):
            raise TenantConfigError(f"{path}: field '{key}' must be true or false")
    partial = _partial_payments(data, path)
    if "pay_oldest_first" in data and not isinstance(data["pay_oldest_first"], bool):
        raise TenantConfigError(f"{path}: field 'pay_oldest_first' must be true or false")
    review_hours = data.get("pending_review_hours", 24)
    if isinstance(review_hours, bool) or not isinstance(review_hours, int) or review_hours < 1:
        raise TenantConfigError(
            f"{path}: field 'pending_review_hours' must be a whole number of hours (1 or more)"
        )
    return Tenant(
        slug=slug,
        name=_require(data, "name", path),
        legal_name=_require(data, "legal_name", path),
        nit=nit,
        support_phone=_require(data, "support_phone", path),
        support_email=_require(data, "support_email", path),
        brand_color=colour,
        logo=data.get("logo"),
        flows=frozenset(flows),
        gateways=tuple(sorted(gateways)),
        providers=tuple(sorted((n, s.get("provider", "wompi")) for n, s in gateways.items())),
        pay_overdue=data.get("pay_overdue", False),
        pending_review_hours=review_hours,
        pay_oldest_first=data.get("pay_oldest_first", False),
        partial=partial,
        terms_url=_terms_url(data, path),
        payment_description=data.get("payment_description", "Factura {client}"),
        recaptcha=data.get("recaptcha", False),
        source=str(path),
        webhook_specs=parse_webhooks(data, path, TenantConfigError),
        asobancaria=(
            parse_asobancaria(data["asobancaria"], path, TenantConfigError)
            if "asobancaria" in data
            else None
        ),
    )


def _partial_payments(data: dict, path: Path) -> PartialPayments | None:
    section = data.get("partial_payments")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise TenantConfigError(f"{path}: field 'partial_payments' must be a table")
    if section.get("enabled", True) is False:
        return None
    minimum = section.get("minimum")
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise TenantConfigError(
            f"{path}: field 'partial_payments.minimum' must be a whole number of pesos (1 or more)"
        )
    bills = section.get("bills", "all")
    if bills not in ("all", "overdue"):
        raise TenantConfigError(
            f"{path}: field 'partial_payments.bills' must be 'all' or 'overdue'"
        )
    return PartialPayments(minimum_cents=minimum * 100, bills=bills)


def load_tenant_file(path: Path) -> Tenant:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TenantConfigError(f"{path}: not valid TOML ({exc})") from exc
    tenant = parse_tenant(data, path)
    if path.stem != tenant.slug:
        raise TenantConfigError(f"{path}: field 'slug' ({tenant.slug}) must match the file name")
    return tenant


def load_tenants(directory: str | Path) -> list[Tenant]:
    directory = Path(directory)
    if not directory.is_dir():
        raise TenantConfigError(f"{directory}: tenant directory not found (GASPAY_TENANTS_DIR)")
    tenants = [load_tenant_file(p) for p in sorted(directory.glob("*.toml"))]
    if not tenants:
        raise TenantConfigError(f"{directory}: no tenant files (*.toml)")
    return tenants
