"""The demo's staff users (development only: `demo load` refuses production, and production
refuses the demo password and TOTP secret at login)."""

from __future__ import annotations

from gaspay.staff.auth import DEMO_TOTP_SECRET
from gaspay.staff.models import ADMIN, CONSULTA
from gaspay.staff.services import create_demo_user

DEMO_STAFF = (
    ("admin", ADMIN, "Administrador Demo"),
    ("consulta", CONSULTA, "Consulta Demo"),
)


def ensure_demo_staff(slugs) -> list[str]:
    """admin@<slug>.test and consulta@<slug>.test for each tenant; re-runnable, no duplicates."""
    lines = []
    for slug in sorted(slugs):
        for local, role, name in DEMO_STAFF:
            email = f"{local}@{slug}.test"
            created = create_demo_user(slug, email, role, name, DEMO_TOTP_SECRET)
            lines.append(f"empresa {slug}: {email} ({role}) {'creado' if created else 'ya existe'}")
    return lines
