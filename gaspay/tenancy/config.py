"""Tenant configuration files (TOML) -> validated, immutable Tenant objects.

A tenant file describes a company: who it is, which payer flows it offers and which gateways it
uses. Secrets are not in the file; they are read from the deployment's configuration
(``GASPAY_<SLUG>_WOMPI_*``) when the app starts.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
NIT_RE = re.compile(r"^[0-9.]{6,15}-[0-9]$")
COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
FLOWS = {"guest_lookup", "customer_accounts"}
GATEWAYS = {"pse", "wompi"}
PROVIDERS = {"wompi"}
RESERVED_SLUGS = {"static", "sandbox", "healthz", "admin", "api"}
MIN_CONTRAST = 4.5  # WCAG 2.2 AA for normal text, white on the brand colour
WOMPI_SECRETS = ("public_key", "private_key", "integrity_secret", "events_secret")


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
    terms_url: str | None = None
    payment_description: str = "Factura {client}"
    recaptcha: bool = False
    source: str = ""
    wompi: WompiAccount | None = field(default=None, compare=False, repr=False)

    def offers(self, flow: str) -> bool:
        return flow in self.flows

    def uses(self, gateway: str) -> bool:
        return gateway in self.gateways

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
        if provider not in PROVIDERS:
            raise TenantConfigError(
                f"{path}: field 'gateways.{name}.provider' must be one of {sorted(PROVIDERS)}"
            )
    if "guest_lookup" in flows and "pse" not in gateways:
        raise TenantConfigError(f"{path}: field 'gateways' needs 'pse' for the guest_lookup flow")
    if "customer_accounts" in flows and not gateways:
        raise TenantConfigError(f"{path}: field 'gateways' is empty")
    for key in ("pay_overdue", "recaptcha"):
        if key in data and not isinstance(data[key], bool):
            raise TenantConfigError(f"{path}: field '{key}' must be true or false")
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
        pay_overdue=data.get("pay_overdue", False),
        terms_url=data.get("terms_url"),
        payment_description=data.get("payment_description", "Factura {client}"),
        recaptcha=data.get("recaptcha", False),
        source=str(path),
    )


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
