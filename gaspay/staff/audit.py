"""The staff audit log: every staff action, written with the action it records.

``record`` adds the row inside the caller's write unit (the action and its audit row commit
together or not at all); ``log`` writes one on its own, for actions that change nothing else
(a login, an export, a failed attempt).
"""

from __future__ import annotations

from flask import has_request_context
from sqlalchemy import select

from gaspay.db import write_unit
from gaspay.extensions import client_ip, db
from gaspay.staff.models import StaffAudit

ACTIONS = {
    "login": "Ingreso",
    "login_failed": "Ingreso fallido",
    "locked": "Acceso bloqueado por intentos fallidos",
    "logout": "Salida",
    "totp_enrolled": "Código de verificación configurado",
    "activated": "Cuenta activada",
    "export": "Exportación",
    "upload": "Carga de facturas",
    "import": "Importación de facturas",
    "requery": "Consulta a la pasarela",
    "note": "Nota en un pago",
    "review_resolved": "Revisión resuelta",
    "resend": "Mensaje enviado de nuevo",
    "user_created": "Usuario creado",
    "user_disabled": "Usuario desactivado",
    "user_enabled": "Usuario reactivado",
    "totp_reset": "Segundo factor restablecido",
    "enrol_link": "Nuevo enlace de activación",
}
PAGE = 50


def _ip() -> str | None:
    return client_ip()[:45] if has_request_context() else None


def record(tenant: str, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Inside a write unit: one audit row for what `actor` just did."""
    assert action in ACTIONS, action
    db.session.add(
        StaffAudit(
            tenant=tenant,
            actor=(actor or "")[:254],
            action=action,
            target=(target or "")[:120],
            detail=detail or "",
            ip=_ip(),
        )
    )


def log(tenant: str, actor: str, action: str, target: str = "", detail: str = "") -> None:
    with write_unit():
        record(tenant, actor, action, target, detail)


def page(tenant: str, before: int | None = None, action: str | None = None) -> list[StaffAudit]:
    """Newest first, keyset on id (the log only grows)."""
    query = select(StaffAudit).where(StaffAudit.tenant == tenant)
    if before:
        query = query.where(StaffAudit.id < before)
    if action:
        query = query.where(StaffAudit.action == action)
    return list(db.session.scalars(query.order_by(StaffAudit.id.desc()).limit(PAGE + 1)))
