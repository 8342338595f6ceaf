"""What a receipt shows, wherever it is rendered (page, PDF, e-mail, staff view)."""

from __future__ import annotations

from gaspay.payments import transitions as T

STATE_WORDS = {
    T.CREATED: "Procesando",
    T.PENDING: "Pendiente",
    T.APPROVED: "Aprobada",
    T.DECLINED: "Rechazada",
    T.FAILED: "Fallida",
    T.VOIDED: "Anulada",
    T.EXPIRED: "Vencida",
}


def receipt_context(attempt, *, full: bool) -> dict:
    """The variables `payments/_receipt_facts.html` needs (plus `tenant`, a template global)."""
    return {"attempt": attempt, "words": STATE_WORDS, "full": full}
