"""The payment page's "messages and deliveries" panel and "Enviar de nuevo".

Reads the outbox (``gaspay.outbox``): every message written about the payment (receipt
e-mail, webhooks), each with its delivery attempts; an administrator can send one again
(``outbox.retry``: the same message, with the same identity, so the receiver sees a repeat).
"""

from __future__ import annotations

from gaspay import outbox
from gaspay.payments.models import PaymentAttempt
from gaspay.staff import audit
from gaspay.staff.models import StaffUser

SUBJECT = "payment_attempt"  # what gaspay.payments.effects names a payment's messages by
KIND_WORDS = {"email": "Correo", "webhook": "Webhook"}
# What each message is, in the staff's words; webhook event types stay as the receiver sees them.
TOPIC_WORDS = {
    "receipt": "comprobante de pago",
    "not_approved": "pago no aprobado",
    "password_reset": "restablecer contraseña",
    "bill_import": "carga de facturas",
    "webhook_trouble": "aviso de webhook con fallas",
}


def message_label(message: outbox.OutboxMessage) -> str:
    topic = TOPIC_WORDS.get(message.topic, message.topic)
    return (
        f"{KIND_WORDS.get(message.kind, message.kind)} · {topic}"
        if topic
        else KIND_WORDS.get(message.kind, message.kind)
    )


def messages_for(slug: str, attempt: PaymentAttempt) -> list[outbox.OutboxMessage]:
    """The attempt's outbox messages with their deliveries, oldest first."""
    return outbox.messages_for(slug, SUBJECT, attempt.id)


def resend(
    slug: str, attempt: PaymentAttempt, message_id: int, staff: StaffUser
) -> tuple[str, str] | None:
    """(flash category, message), or None when the payment has no such message (404)."""
    message = outbox.get_message(message_id, tenant=slug)
    if message is None or (message.subject_type, message.subject_id) != (SUBJECT, attempt.id):
        return None
    label = message_label(message)
    outbox.retry(message_id, tenant=slug)
    audit.log(slug, staff.email, "resend", attempt.reference, f"{label} ({message.uid})")
    return ("ok", f"{label}: se enviará de nuevo en unos segundos.")
