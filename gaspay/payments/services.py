"""Attempts: open one (taking the bills' holds), move it (compare-and-set), apply a gateway answer.

Every status change in the portal goes through ``transition``: it asks the transition table,
updates the row only if its status is still the one it read (exactly one row changed), writes
the audit row, pays or releases the bills, all in one database transaction. Callers never hold
a transaction open across a gateway call.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from gaspay.billing import rules
from gaspay.billing.models import PAID, UNPAID, Bill
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments import effects
from gaspay.payments import transitions as T
from gaspay.payments.gateway import GatewayAnswer, provider_for
from gaspay.payments.models import (
    AttemptBill,
    AttemptTransition,
    BillHold,
    PaymentAttempt,
    PaymentReview,
)
from gaspay.payments.schedule import first_check
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import today_in_bogota, utcnow

log = logging.getLogger(__name__)
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone
SOURCES = ("payer", "event", "job", "staff")


class BillBusy(Exception):
    """A bill has a live or approved attempt: the pending rule applies. ``bill_ids``: which."""

    def __init__(self, attempt: PaymentAttempt, bill_ids: list[int] | None = None):
        super().__init__(attempt.reference)
        self.attempt = attempt
        self.bill_ids = bill_ids or []


class SelectionRefused(Exception):
    """The selection or the amount breaks a company rule; ``message`` is in the payer's words."""

    def __init__(self, message: str, bills: list[Bill] | None = None):
        super().__init__(message)
        self.message = message
        self.bills = bills or []


class BillNotPayable(Exception):
    """A bill cannot be paid now (``billing.rules``): already paid, or overdue where refused."""

    def __init__(self, reason: str = rules.PAID, bill: Bill | None = None):
        super().__init__(reason)
        self.reason = reason
        self.bill = bill


def new_reference() -> str:
    """Short, unique, and safe for every Colombian gateway: `GP` + 10 letters or digits."""
    return "GP" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(10))


def attempts_query(tenant: Tenant):
    return select(PaymentAttempt).where(PaymentAttempt.tenant == tenant.slug)


def get_attempt(tenant: Tenant, reference: str) -> PaymentAttempt | None:
    """The attempt a payer holds by reference: the approved one, else the newest retry."""
    return db.session.scalars(
        attempts_query(tenant)
        .where(PaymentAttempt.reference == reference)
        .order_by(case((PaymentAttempt.status == T.APPROVED, 0), else_=1), PaymentAttempt.id.desc())
    ).first()


def holds_for_bills(tenant: Tenant, bill_ids: list[int]) -> dict[int, PaymentAttempt]:
    """For each bill, the attempt that holds it (live, or approved)."""
    if not bill_ids:
        return {}
    rows = db.session.execute(
        select(BillHold.bill_id, PaymentAttempt)
        .join(PaymentAttempt, PaymentAttempt.id == BillHold.attempt_id)
        .where(BillHold.tenant == tenant.slug, BillHold.bill_id.in_(bill_ids))
    ).all()
    return {bill_id: attempt for bill_id, attempt in rows}


def approved_amounts(bill_ids: list[int]) -> dict[int, int]:
    """For each bill, the sum applied to it by approved attempts (its balance is derived)."""
    if not bill_ids:
        return {}
    rows = db.session.execute(
        select(AttemptBill.bill_id, func.sum(AttemptBill.amount_cents))
        .join(PaymentAttempt, PaymentAttempt.id == AttemptBill.attempt_id)
        .where(AttemptBill.bill_id.in_(bill_ids), PaymentAttempt.status == T.APPROVED)
        .group_by(AttemptBill.bill_id)
    ).all()
    return {bill_id: int(total) for bill_id, total in rows}


def balances(bills: list[Bill], applied: dict[int, int] | None = None) -> dict[int, int]:
    """What is still owed on each bill: its amount less what approved payments applied
    (``applied`` when the caller read it already, as the lookup's one query does)."""
    paid = approved_amounts([b.id for b in bills]) if applied is None else applied
    return {
        b.id: 0 if b.state != UNPAID else max(b.amount_cents - paid.get(b.id, 0), 0) for b in bills
    }


def holding_attempts(tenant: Tenant, held_by: dict[int, int]) -> dict[int, PaymentAttempt]:
    """The attempts behind holds already read (bill id -> attempt id); no query when none."""
    if not held_by:
        return {}
    attempts = db.session.scalars(
        attempts_query(tenant).where(PaymentAttempt.id.in_(set(held_by.values())))
    ).all()
    by_id = {a.id: a for a in attempts}
    return {bill_id: by_id[a] for bill_id, a in held_by.items() if a in by_id}


@dataclass(frozen=True)
class KnownFacts:
    """What a page read already about a client's bills, so the selection's checks need not read
    it again: every bill of the client (or None when the read was cut short or went by payment
    reference), the attempts holding them, and each bill's balance."""

    client_bills: list[Bill] | None
    held: dict[int, PaymentAttempt]
    owed: dict[int, int]


def payability(tenant: Tenant, bills: list[Bill]) -> dict[int, str | None]:
    """For each bill, why it cannot be paid now (``billing.rules``), or None when it can."""
    holds = holds_for_bills(tenant, [b.id for b in bills])
    today = today_in_bogota()
    return {b.id: rules.why_not_payable(tenant, b, held=b.id in holds, today=today) for b in bills}


def open_attempt(
    tenant: Tenant,
    bills: list[Bill],
    *,
    gateway: str,
    description: str,
    payer: dict,
    customer_id: int | None = None,
    amounts: dict[int, int] | None = None,
) -> PaymentAttempt:
    """Record the attempt and take every bill's hold, or raise BillBusy / BillNotPayable.

    The payable-now rule is enforced here, in the transaction that takes the holds (the hold
    itself is the database's: a primary key per bill), whatever the caller checked before.
    """
    bill_ids = [b.id for b in bills]
    for tries_left in (2, 1, 0):
        try:
            return _open_attempt_once(
                tenant, bill_ids, gateway, description, payer, customer_id, amounts or {}
            )
        except IntegrityError:
            holder = holds_for_bills(tenant, bill_ids)
            if holder:
                raise BillBusy(next(iter(holder.values())), sorted(holder)) from None
            if not tries_left:
                raise
            # The other attempt was released between our insert and this read: try again.
    raise AssertionError("unreachable")


def _open_attempt_once(tenant, bill_ids, gateway, description, payer, customer_id, amounts):
    with write_unit():
        # Locked (PostgreSQL; SQLite's write unit is exclusive already), in id order: an
        # import batch changing these bills waits for this hold, or this waits for it.
        fresh = db.session.scalars(
            select(Bill)
            .where(Bill.tenant == tenant.slug, Bill.id.in_(bill_ids))
            .order_by(Bill.id)
            .with_for_update()
        ).all()
        if len(fresh) != len(set(bill_ids)):
            raise BillNotPayable()
        today = today_in_bogota()
        for bill in fresh:
            reason = rules.why_not_payable(tenant, bill, held=False, today=today)
            if reason is not None:
                raise BillNotPayable(reason, bill)
        currencies = {b.currency for b in fresh}
        if len(currencies) != 1:
            raise BillNotPayable()
        if tenant.pay_oldest_first:
            _refuse_older_left_unpaid(tenant, fresh, today)
        applied = _applied_amounts(tenant, fresh, amounts, today)
        attempt = PaymentAttempt(
            tenant=tenant.slug,
            reference=new_reference(),
            gateway=gateway,
            provider=provider_for(tenant, gateway),
            description=description[:64],
            amount_cents=sum(applied.values()),
            currency=currencies.pop(),
            customer_id=customer_id,
            status=T.CREATED,
            # Checked by the job even if this process dies before hearing from the gateway.
            next_check_at=first_check(utcnow(), left_for_gateway=False),
            **payer,
        )
        attempt.bills = [
            AttemptBill(bill_id=b.id, amount_cents=applied[b.id], bill_amount_cents=b.amount_cents)
            for b in fresh
        ]
        db.session.add(attempt)
        db.session.flush()
        db.session.add_all(
            BillHold(bill_id=b.id, attempt_id=attempt.id, tenant=tenant.slug) for b in fresh
        )
        db.session.flush()
    return attempt


def selection_problem(
    tenant: Tenant,
    bills: list[Bill],
    amounts: dict[int, int] | None = None,
    known: KnownFacts | None = None,
) -> str | None:
    """What open_attempt would refuse in this selection, in the payer's words (nothing written,
    and it only reads what ``known`` does not already say).

    The same checks, run ahead so the page can say it before the payer types bank details;
    open_attempt checks again in its own transaction.
    """
    today = today_in_bogota()
    try:
        if tenant.pay_oldest_first:
            _refuse_older_left_unpaid(tenant, bills, today, known)
        owed = known.owed if known is not None else None
        _applied_amounts(tenant, bills, amounts or {}, today, owed)
    except SelectionRefused as refused:
        return refused.message
    return None


def _refuse_older_left_unpaid(
    tenant: Tenant, selected: list[Bill], today, known: KnownFacts | None = None
) -> None:
    """`pay_oldest_first`: no selection may leave an older payable bill of the same client."""
    clients = {b.client_number for b in selected}
    chosen = {b.id for b in selected}
    if known is not None and known.client_bills is not None:
        others = [
            b
            for b in known.client_bills
            if b.client_number in clients and b.state == UNPAID and b.id not in chosen
        ]
        held = {b.id: known.held[b.id] for b in others if b.id in known.held}
    else:
        others = db.session.scalars(
            select(Bill).where(
                Bill.tenant == tenant.slug,
                Bill.client_number.in_(clients),
                Bill.state == UNPAID,
                Bill.id.not_in(chosen),
            )
        ).all()
        held = holds_for_bills(tenant, [b.id for b in others])
    partly = _held_for_part_only(others, held)
    payable = [
        b
        for b in others
        if b.id in partly
        or rules.why_not_payable(tenant, b, held=b.id in held, today=today) is None
    ]
    older = rules.older_left_unpaid(selected, payable)
    if older:
        numbers = ", ".join(b.bill_number for b in older)
        raise SelectionRefused(
            f"Primero debe pagar las facturas más antiguas: incluya también la {numbers}.", older
        )


def _held_for_part_only(bills: list[Bill], held: dict[int, PaymentAttempt]) -> set[int]:
    """Bills a live abono holds: once it is approved they still owe, so they still come first."""
    live = {bill_id: a.id for bill_id, a in held.items() if a.status in T.LIVE}
    if not live:
        return set()
    applied = dict(
        db.session.execute(
            select(AttemptBill.bill_id, AttemptBill.amount_cents).where(
                or_(
                    *(
                        and_(AttemptBill.bill_id == b, AttemptBill.attempt_id == a)
                        for b, a in live.items()
                    )
                )
            )
        ).all()
    )
    owed = balances([b for b in bills if b.id in live])
    return {b for b in live if applied.get(b, 0) < owed.get(b, 0)}


def _applied_amounts(
    tenant: Tenant, bills: list[Bill], asked: dict[int, int], today, owed=None
) -> dict[int, int]:
    """What the attempt applies to each bill: its balance, or the abono the payer typed."""
    if owed is None or any(b.id not in owed for b in bills):
        owed = balances(bills)
    applied = {}
    for bill in bills:
        amount = asked.get(bill.id, owed[bill.id])
        if problem := rules.partial_problem(tenant, bill, amount, owed[bill.id], today=today):
            raise SelectionRefused(problem, [bill])
        applied[bill.id] = amount
    return applied


def _write_transition(
    attempt: PaymentAttempt, new: str, source: str, answer: GatewayAnswer | None
) -> bool:
    """Inside a write unit: compare-and-set, audit row, bills. True when this call moved it."""
    now = utcnow()
    values: dict = {"status": new, "updated_at": now}
    if new in T.FINAL:
        values.update(finalized_at=now, next_check_at=None)
    if answer is not None:
        values.update(_answer_details(answer))
    changed = db.session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.id == attempt.id, PaymentAttempt.status == attempt.status)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        return False
    db.session.add(
        AttemptTransition(
            tenant=attempt.tenant,
            attempt_id=attempt.id,
            from_status=attempt.status,
            to_status=new,
            source=source,
            gateway_txn_id=answer.txn_id if answer else attempt.gateway_txn_id,
            gateway_status=answer.status if answer else None,
            created_at=now,
        )
    )
    links = None
    if new == T.APPROVED:
        links = _pay_bills(attempt, now)
    elif new in T.RELEASING:
        db.session.execute(
            delete(BillHold)
            .where(BillHold.attempt_id == attempt.id)
            .execution_options(synchronize_session=False)
        )
    # The row as the update left it (the attempt was read in this unit; the update set only
    # ``values``): the effects need not read it back.
    effects.after_transition(effects.row_after(attempt, values), links)
    return True


def _pay_bills(attempt: PaymentAttempt, now: dt.datetime) -> list:
    """Inside the approval's write unit: apply the attempt's amount to each of its bills.

    Each bill is locked, then compared with what the attempt recorded: a bill whose amount
    changed, or that is no longer unpaid (paid at the office meanwhile: paid twice), is left as
    it is and the payment goes to review; nothing is paid silently. A bill whose approved amounts
    reach its amount is paid — past it (two abonos for one balance) it is paid and flagged, so
    staff refund the excess; one still owing (an abono) is released for the next payment.
    """
    # One statement reads the attempt's bills and locks them, in bill order (PostgreSQL locks
    # after the sort: two approvals sharing bills lock them in the same order). A lock that
    # waited returns the bill as the other transaction left it. SQLite: the unit's BEGIN
    # IMMEDIATE already excludes every other writer. The rows also feed the webhook's payload.
    links = db.session.execute(
        effects.bill_links(
            attempt.id, AttemptBill.bill_id, Bill.state, Bill.amount_cents.label("current_cents")
        ).with_for_update(of=Bill)
    ).all()
    still_owing = []
    for bill in links:
        bill_id, applied, recorded = bill.bill_id, bill.amount_cents, bill.bill_amount_cents
        # Read after the lock, in its own statement (a fresh snapshot sees an approval that
        # committed while this one waited). Each link's status is read by primary key: as a
        # join, stale statistics (every attempt pending when last analysed) made PostgreSQL walk
        # the status index over every approved attempt instead (0.85 ms at 4,500 approvals).
        status = (
            select(PaymentAttempt.status)
            .where(PaymentAttempt.id == AttemptBill.attempt_id)
            .scalar_subquery()
        )
        before = db.session.scalar(
            select(func.coalesce(func.sum(AttemptBill.amount_cents), 0)).where(
                AttemptBill.bill_id == bill_id,
                AttemptBill.attempt_id != attempt.id,
                status == T.APPROVED,
            )
        )
        recorded = recorded if recorded is not None else applied
        number = bill.bill_number
        if bill.state != UNPAID:
            _flag(attempt, f"factura {number} ya estaba pagada: posible doble pago", "paid_twice")
        elif bill.current_cents != recorded:
            _flag(
                attempt,
                f"factura {number}: el valor cambió de {recorded} a {bill.current_cents} "
                "durante el pago",
                "amount_changed",
            )
        elif before + applied >= bill.current_cents:
            if before + applied > bill.current_cents:  # covered, and more: staff refund the rest
                _flag(
                    attempt,
                    f"factura {number}: los pagos aprobados ({before + applied}) superan su "
                    f"valor ({bill.current_cents})",
                    "overpaid",
                )
            db.session.execute(
                update(Bill)
                .where(Bill.id == bill_id, Bill.state == UNPAID)
                .values(state=PAID, paid_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        else:
            still_owing.append(bill_id)
    if still_owing:
        db.session.execute(
            delete(BillHold)
            .where(BillHold.attempt_id == attempt.id, BillHold.bill_id.in_(still_owing))
            .execution_options(synchronize_session=False)
        )
    return links


def transition(
    attempt_id: int,
    incoming: str,
    source: str,
    answer: GatewayAnswer | None = None,
    *,
    record: Callable[[bool], None] | None = None,
) -> bool:
    """Apply one input to an attempt; True only for the caller whose call changed the row.

    ``record(changed)``, when given, runs inside the same write unit once the outcome is
    decided (an event's audit row commits with the change it caused, or neither does).
    """
    assert source in SOURCES
    done = record or (lambda _changed: None)
    for _ in range(3):
        with write_unit():
            attempt = db.session.get(PaymentAttempt, attempt_id, populate_existing=True)
            if incoming not in T.INPUTS:
                # No definite answer: keep the attempt as it is, tell staff, ask again later.
                _flag(
                    attempt,
                    f"estado desconocido de la pasarela: {str(incoming)[:40]!r}",
                    "unknown_status",
                )
                done(False)
                return False
            new = T.decide(attempt.status, incoming)
            if new is None:
                if answer is not None and attempt.status in T.LIVE:
                    _record_details(attempt, answer)
                if T.contradicts(attempt.status, incoming, authoritative=source != "event"):
                    _flag(
                        attempt,
                        f"la pasarela informó {incoming} después de {attempt.status}: revisar",
                        "late_answer",
                    )
                log.info(
                    "ignored %s for attempt %s in %s (source %s)",
                    incoming,
                    attempt.reference,
                    attempt.status,
                    source,
                )
                done(False)
                return False
            if _write_transition(attempt, new, source, answer):
                log.info(
                    "attempt %s: %s -> %s (%s)", attempt.reference, attempt.status, new, source
                )
                done(True)
                return True
        # Someone else moved it between our read and write: decide again on the new status.
    return False


def _answer_details(answer: GatewayAnswer) -> dict:
    """What the gateway tells about a transaction besides its status (kept when it says it)."""
    values = {"gateway_status": answer.status, "status_message": answer.message}
    for column, value in (
        ("cus", answer.cus),
        ("bank_name", answer.bank_name),
        ("payment_method", answer.payment_method),
        ("redirect_url", answer.bank_url if answer.status == T.GATEWAY_PENDING else None),
    ):
        if value:
            values[column] = value
    return values


def _record_details(attempt: PaymentAttempt, answer: GatewayAnswer) -> None:
    """A still-pending answer moves nothing, but its CUS and bank are worth keeping."""
    db.session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.id == attempt.id, PaymentAttempt.status == attempt.status)
        .values(updated_at=utcnow(), **_answer_details(answer))
        .execution_options(synchronize_session=False)
    )


def _flag(attempt: PaymentAttempt, reason: str, kind: str = "mismatch") -> None:
    """Mark an attempt for staff review (inside a write unit); never pays anything.

    Each reason is a ``PaymentReview`` row, open until an administrator resolves it; the
    attempt's ``review_reason`` keeps the latest one for the payer's page. The same open reason
    twice (a gateway repeating itself) is recorded once.
    """
    reason = reason[:255]
    already = db.session.scalar(
        select(PaymentReview.id).where(
            PaymentReview.attempt_id == attempt.id,
            PaymentReview.kind == kind,
            PaymentReview.reason == reason,
            PaymentReview.resolved_at.is_(None),
        )
    )
    if already is not None:
        return
    log.warning("attempt %s flagged for review (%s): %s", attempt.reference, kind, reason)
    db.session.add(
        PaymentReview(tenant=attempt.tenant, attempt_id=attempt.id, kind=kind, reason=reason)
    )
    db.session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.id == attempt.id)
        .values(review_reason=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    effects.after_flag(attempt.id, attempt.tenant, reason)


def flag_for_review(attempt_id: int, reason: str, kind: str = "mismatch") -> None:
    with write_unit():
        attempt = db.session.get(PaymentAttempt, attempt_id)
        _flag(attempt, reason, kind)


def flag_stuck_pending(attempt_id: int, hours: int) -> None:
    """Still pending past the company's limit: staff are told once; the attempt stays held."""
    with write_unit():
        changed = db.session.execute(
            update(PaymentAttempt)
            .where(
                PaymentAttempt.id == attempt_id,
                PaymentAttempt.status.in_(T.LIVE),
                PaymentAttempt.stuck_flagged_at.is_(None),
            )
            .values(stuck_flagged_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed == 1:
            attempt = db.session.get(PaymentAttempt, attempt_id)
            _flag(attempt, f"sigue pendiente después de {hours} horas", "stuck_pending")


def mismatch(attempt: PaymentAttempt, answer: GatewayAnswer) -> str | None:
    """What in the gateway's answer disagrees with our record, if anything."""
    if answer.reference != attempt.reference:
        return f"referencia {answer.reference} != {attempt.reference}"
    if answer.amount_cents != attempt.amount_cents:
        return f"valor {answer.amount_cents} != {attempt.amount_cents}"
    if answer.currency != attempt.currency:
        return f"moneda {answer.currency} != {attempt.currency}"
    return None


def bind_transaction(attempt: PaymentAttempt, txn_id: str) -> PaymentAttempt | None:
    """Tie the gateway's transaction id to the attempt (once); None if it has another id."""
    if attempt.gateway_txn_id == txn_id:
        return attempt
    if attempt.gateway_txn_id is None:
        with write_unit():
            changed = db.session.execute(
                update(PaymentAttempt)
                .where(PaymentAttempt.id == attempt.id, PaymentAttempt.gateway_txn_id.is_(None))
                .values(gateway_txn_id=txn_id, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            ).rowcount
        db.session.refresh(attempt)
        if changed == 1 or attempt.gateway_txn_id == txn_id:
            return attempt
    return None


def open_retry_attempt(original: PaymentAttempt, answer: GatewayAnswer) -> PaymentAttempt | None:
    """A checkout retry made another gateway transaction under the same reference.

    It gets its own row. It takes the bills' holds when they are free (the first try was
    declined); when another live attempt holds them it is flagged for review, never silently
    paid twice.
    """
    try:
        with write_unit():
            retry = PaymentAttempt(
                tenant=original.tenant,
                reference=original.reference,
                gateway=original.gateway,
                provider=original.provider,
                gateway_txn_id=answer.txn_id,
                description=original.description,
                amount_cents=original.amount_cents,
                currency=original.currency,
                customer_id=original.customer_id,
                payer_name=original.payer_name,
                payer_email=original.payer_email,
                payer_email_source=original.payer_email_source,
                payer_ip=original.payer_ip,
                person_type=original.person_type,
                document_type=original.document_type,
                document_number=original.document_number,
                bank_code=original.bank_code,
                bank_name=original.bank_name,
                payment_method=original.payment_method,
                retry_of_id=original.id,
                status=T.CREATED,
                redirected_at=original.redirected_at,
                next_check_at=first_check(utcnow(), left_for_gateway=True),
            )
            retry.bills = [
                AttemptBill(
                    bill_id=ab.bill_id,
                    amount_cents=ab.amount_cents,
                    bill_amount_cents=ab.bill_amount_cents,
                )
                for ab in original.bills
            ]
            db.session.add(retry)
            db.session.flush()
    except IntegrityError:
        # Another delivery created it first.
        db.session.rollback()
        return find_by_transaction_tenant(original.tenant, original.gateway, answer.txn_id)
    try:
        with write_unit():
            db.session.add_all(
                BillHold(bill_id=ab.bill_id, attempt_id=retry.id, tenant=retry.tenant)
                for ab in retry.bills
            )
    except IntegrityError:
        flag_for_review(retry.id, "reintento con las facturas tomadas por otro intento")
    return retry


def find_by_transaction_tenant(slug: str, gateway: str, txn_id: str) -> PaymentAttempt | None:
    return db.session.scalars(
        select(PaymentAttempt).where(
            PaymentAttempt.tenant == slug,
            PaymentAttempt.gateway == gateway,
            PaymentAttempt.gateway_txn_id == txn_id,
        )
    ).first()


def apply_answer(
    attempt: PaymentAttempt,
    answer: GatewayAnswer,
    source: str,
    *,
    record: Callable[[bool], None] | None = None,
) -> bool:
    """Apply what the gateway said, after checking it is about this attempt and amount.

    ``record`` goes to ``transition`` (see there); it is not called when the answer is refused
    before any transition (a mismatch, a retry that could not be opened)."""
    problem = mismatch(attempt, answer)
    if problem:
        flag_for_review(attempt.id, f"respuesta de la pasarela no coincide: {problem}")
        return False
    target = bind_transaction(attempt, answer.txn_id)
    if target is None:
        target = find_by_transaction_tenant(attempt.tenant, attempt.gateway, answer.txn_id)
    if target is None:
        if answer.status not in (T.GATEWAY_APPROVED, T.GATEWAY_PENDING):
            log.info("retry %s of %s ended %s", answer.txn_id, attempt.reference, answer.status)
        target = open_retry_attempt(attempt, answer)
        if target is None:
            return False
    return transition(target.id, answer.status, source, answer, record=record)


def schedule_check(attempt_id: int, at: dt.datetime, **values) -> None:
    with write_unit():
        db.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == attempt_id, PaymentAttempt.status.in_(T.LIVE))
            .values(next_check_at=at, updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
