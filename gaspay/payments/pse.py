"""Starting a PSE payment: terms, attempt, gateway transaction, bank URL — in that order.

Nothing is recorded when the gateway cannot even give us its terms; once the attempt exists,
only a definite refusal closes it. A timeout or a 5xx leaves it ``created`` (outcome unknown)
for the reconciliation job, which finds the transaction by reference or expires the attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from gaspay.billing.models import Bill
from gaspay.payments import transitions as T
from gaspay.payments.models import PaymentAttempt
from gaspay.payments.providers import (
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    PseOrder,
    PseProvider,
)
from gaspay.payments.schedule import first_check
from gaspay.payments.services import (
    apply_answer,
    flag_for_review,
    mismatch,
    open_attempt,
    schedule_check,
    transition,
)
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import utcnow

log = logging.getLogger(__name__)
UNAVAILABLE = (
    "No fue posible comunicarnos con la pasarela de pagos. No se realizó ningún cobro; "
    "intente de nuevo en unos minutos."
)
CREATE_MISMATCH = (
    "La pasarela de pagos respondió con datos que no coinciden con su factura, así que no lo "
    "enviamos al banco y no se realizó ningún cobro. Nuestro equipo revisará el caso."
)
BANK_UNREACHABLE = (
    "La entidad financiera no puede ser contactada para iniciar la transacción, por favor "
    "seleccione otra o intente más tarde."
)


@dataclass(frozen=True)
class PseRequest:
    person_type: int
    bank_code: str
    bank_name: str
    document_type: str
    document_number: str
    email: str
    email_source: str  # "payer" (typed) or "bill" (the holder's, never shown unmasked)
    full_name: str
    phone: str
    payer_ip: str | None
    user_agent: str | None = None


@dataclass
class PseStart:
    attempt: PaymentAttempt | None = None
    bank_url: str | None = None
    error: str | None = None


def clean_text(text: str) -> str:
    """PSE refuses `|` and `"` in descriptions and references."""
    return text.replace("|", " ").replace('"', " ").strip()


def rejection_message(exc: GatewayRejected) -> str:
    fields = ", ".join(sorted(exc.messages or {}))
    if "financial_institution_code" in (exc.messages or {}):
        return BANK_UNREACHABLE
    if "amount_in_cents" in (exc.messages or {}):
        return (
            "El valor supera el límite permitido por PSE para esta empresa. Comuníquese con "
            "la línea de atención para pagar su factura."
        )
    log.warning("PSE creation refused (%s): %s", exc.status_code, fields or exc.reason)
    return (
        "La pasarela de pagos rechazó la solicitud. Revise sus datos e intente de nuevo; "
        "no se realizó ningún cobro."
    )


def start_pse_payment(
    tenant: Tenant,
    bills: list[Bill],
    request: PseRequest,
    provider: PseProvider,
    result_url: Callable[[str], str],
    *,
    amounts: dict[int, int] | None = None,
) -> PseStart:
    """Raise BillBusy / BillNotPayable / SelectionRefused or return where the payer goes.

    ``bills`` are one client's; ``amounts`` an abono per bill (else each bill's balance).
    """
    client = bills[0].client_number
    description = clean_text(tenant.payment_description.format(client=client))[:30]
    try:
        terms = provider.terms()
    except GatewayError:
        return PseStart(error=UNAVAILABLE)
    attempt = open_attempt(
        tenant,
        bills,
        amounts=amounts,
        gateway="pse",
        description=description,
        payer={
            "payer_name": request.full_name,
            "payer_email": request.email,
            "payer_email_source": request.email_source,
            "payer_ip": request.payer_ip,
            "person_type": request.person_type,
            "document_type": request.document_type,
            "document_number": request.document_number,
            "bank_code": request.bank_code,
            "bank_name": request.bank_name,
            "payment_method": "PSE",
        },
    )
    order = PseOrder(
        reference=attempt.reference,
        amount_cents=attempt.amount_cents,
        currency=attempt.currency,
        email=request.email,
        full_name=request.full_name,
        phone=request.phone,
        person_type=request.person_type,
        document_type=request.document_type,
        document_number=request.document_number,
        bank_code=request.bank_code,
        description=description,
        redirect_url=result_url(attempt.reference),
        payer_ip=request.payer_ip,
        user_agent=request.user_agent,
    )
    now = utcnow()
    try:
        answer = provider.create(order, terms)
    except GatewayRejected as exc:
        transition(attempt.id, T.REJECTED, "payer")
        return PseStart(error=rejection_message(exc))
    except GatewayUnavailable:
        log.warning("PSE creation outcome unknown for %s", attempt.reference)
        schedule_check(attempt.id, first_check(now, left_for_gateway=False))
        return PseStart(attempt=attempt)
    if stopped := _disagrees(attempt, answer):
        return stopped
    apply_answer(attempt, answer, "payer")
    bank_url = answer.bank_url if answer.status == T.GATEWAY_PENDING else None
    if bank_url is None:
        try:
            answer = provider.wait_for_bank_url(answer.txn_id)
        except GatewayError as exc:  # unknown, or refused (401/403/404): the job asks later
            log.warning("no bank URL for %s: %s", attempt.reference, exc)
        else:
            if stopped := _disagrees(attempt, answer):
                return stopped
            bank_url = answer.bank_url
    if answer.status != T.GATEWAY_PENDING:
        apply_answer(attempt, answer, "payer")
    if bank_url:
        redirected = utcnow()  # the payer leaves for the bank now, after the create and the wait
        schedule_check(
            attempt.id,
            first_check(redirected, left_for_gateway=True),
            redirect_url=bank_url,
            redirected_at=redirected,
        )
    else:
        log.warning("no bank URL for %s within the wait", attempt.reference)
        schedule_check(attempt.id, first_check(now, left_for_gateway=False))
    return PseStart(attempt=attempt, bank_url=bank_url)


def _disagrees(attempt: PaymentAttempt, answer) -> PseStart | None:
    """An answer whose reference, amount or currency differ from ours: no trip to the bank.

    The payment goes to review and stays held (the job keeps asking the gateway about it); the
    payer is shown the support line instead of the bank.
    """
    problem = mismatch(attempt, answer)
    if problem is None:
        return None
    flag_for_review(
        attempt.id, f"la pasarela creó la transacción con otros datos: {problem}", "create_mismatch"
    )
    schedule_check(attempt.id, first_check(utcnow(), left_for_gateway=False))
    return PseStart(attempt=attempt, error=CREATE_MISMATCH)
