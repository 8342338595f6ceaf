"""Finding payments for staff: the filtered list (keyset pages, totals), the search, the detail.

Every query starts from the tenant (``PaymentAttempt.tenant == slug``), so another company's
id is simply not found. The list pages on (created_at, id), newest first, over the index
(tenant, created_at, id) — or (tenant, status, created_at, id) with a status — so a page costs
the same on the first day and at a million payments. The text search is exact on indexed
columns (reference, CUS, transaction id, document, e-mail; client, reference or bill number
through the bills), never a ``LIKE '%…%'`` scan.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import Select, and_, false, func, or_, select, tuple_, union

from gaspay.billing.models import Bill
from gaspay.billing.numbers import InvalidNumber, normalise_number
from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.payments import transitions as T
from gaspay.payments.models import (
    AttemptBill,
    AttemptTransition,
    GatewayEvent,
    PaymentAttempt,
    PaymentReview,
)
from gaspay.payments.providers import GatewayError, GatewayRejected
from gaspay.payments.reconcile import check_attempt
from gaspay.staff import audit
from gaspay.staff.models import StaffNote, StaffUser
from gaspay.tenancy.config import Tenant
from gaspay.timeutil import BOGOTA, as_utc

PAGE_SIZE = 50
MAX_NOTE = 2000
A = PaymentAttempt
CURSOR_RE = re.compile(r"^(\d{1,20})-(\d{1,19})$")
METHODS = {
    "PSE": "PSE",
    "CARD": "Tarjeta",
    "NEQUI": "Nequi",
    "BANCOLOMBIA_TRANSFER": "Botón Bancolombia",
}
GATEWAYS = {"pse": "PSE (formulario del portal)", "wompi": "Wompi Web Checkout"}
SOURCES = {"payer": "Pagador", "event": "Evento de la pasarela", "job": "Tarea", "staff": "Empresa"}


def day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Colombian dates [start, end] -> the UTC instants [from, to)."""
    low = dt.datetime.combine(start, dt.time(), BOGOTA).astimezone(dt.UTC)
    high = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), BOGOTA).astimezone(dt.UTC)
    return low, high


@dataclass
class Filters:
    start: dt.date | None = None
    end: dt.date | None = None
    status: str | None = None
    method: str | None = None
    gateway: str | None = None
    bank: str | None = None
    text: str | None = None

    def query_args(self) -> dict:
        """The filters as the list's URL parameters (for the next-page link)."""
        values = {
            "desde": self.start.isoformat() if self.start else None,
            "hasta": self.end.isoformat() if self.end else None,
            "estado": self.status,
            "medio": self.method,
            "canal": self.gateway,
            "banco": self.bank,
            "q": self.text,
        }
        return {k: v for k, v in values.items() if v}


@dataclass
class Page:
    attempts: list[PaymentAttempt]
    next_cursor: str | None
    # status, count, cents; None on the pages after the first (the totals are the filter's,
    # the same on every page: counted once, where the list starts).
    totals: list[tuple[str, int, int]] | None = field(default_factory=list)

    @property
    def total_count(self) -> int:
        return sum(n for _s, n, _c in self.totals or ())

    @property
    def approved_cents(self) -> int:
        return sum(c for s, _n, c in self.totals or () if s == T.APPROVED)


def search_ids(slug: str, text: str) -> Select:
    """Ids of the tenant's attempts that the text names exactly, whatever it is."""
    text = text.strip()[:120]
    upper = text.upper()
    parts = [
        select(A.id).where(A.tenant == slug, A.reference == upper),
        select(A.id).where(A.tenant == slug, A.cus == text),
        select(A.id).where(A.tenant == slug, A.gateway_txn_id == text),
        select(AttemptBill.attempt_id)
        .join(Bill, Bill.id == AttemptBill.bill_id)
        .where(Bill.tenant == slug, Bill.bill_number == text),
    ]
    if "@" in text:
        # Stored as typed: an exact match, or its lower-case spelling (most addresses).
        parts.append(select(A.id).where(A.tenant == slug, A.payer_email.in_({text, text.lower()})))
    document = re.sub(r"[\s.\-]", "", text)
    if document:
        parts.append(select(A.id).where(A.tenant == slug, A.document_number == document))
    try:
        number = normalise_number(text)
    except InvalidNumber:
        number = None
    if number:
        for column in (Bill.client_number, Bill.payment_reference):
            parts.append(
                select(AttemptBill.attempt_id)
                .join(Bill, Bill.id == AttemptBill.bill_id)
                .where(Bill.tenant == slug, column == number)
            )
    return union(*parts)


def known_banks(slug: str) -> list[str]:
    """The bank names the tenant's payments carry, one index probe per name (a loose scan of
    ``ix_payment_attempts_tenant_bank``): a handful of names whatever the number of payments."""
    banks = select(func.min(A.bank_name).label("name")).where(A.tenant == slug)
    banks = banks.cte("banks", recursive=True)
    after = select(func.min(A.bank_name)).where(A.tenant == slug, A.bank_name > banks.c.name)
    banks = banks.union_all(select(after.scalar_subquery()).where(banks.c.name.is_not(None)))
    return list(db.session.scalars(select(banks.c.name).where(banks.c.name.is_not(None))))


def _folded(text: str) -> str:
    """Lower case without accents: "bogota" finds "Banco de Bogotá"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def banks_named(slug: str, text: str) -> list[str]:
    """The tenant's bank names that contain the typed text. The filter is then an equality on
    the indexed column, which the planner can estimate; ``LIKE '%…%'`` it cannot (it guessed 4
    rows of 3,624 and sorted the whole range: bench/staff_bench.py)."""
    wanted = _folded(text.strip())
    return [name for name in known_banks(slug) if wanted in _folded(name)]


def _conditions(slug: str, filters: Filters) -> list:
    """The filter's WHERE, built once for the page and its totals (the bank names read once)."""
    where = [A.tenant == slug]
    if filters.start or filters.end:
        low, high = day_bounds(
            filters.start or dt.date(2000, 1, 1), filters.end or dt.date(2999, 12, 31)
        )
        where += [A.created_at >= low, A.created_at < high]
    if filters.status:
        where.append(A.status == filters.status)
    if filters.method:
        where.append(A.payment_method == filters.method)
    if filters.gateway:
        where.append(A.gateway == filters.gateway)
    if filters.bank:
        names = banks_named(slug, filters.bank)
        where.append(A.bank_name.in_(names) if names else false())
    if filters.text:
        where.append(A.id.in_(search_ids(slug, filters.text)))
    return where


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICRO = dt.timedelta(microseconds=1)


def encode_cursor(attempt: PaymentAttempt) -> str:
    """The last row of a page, exactly (integer microseconds: no float rounding)."""
    return f"{(as_utc(attempt.created_at) - EPOCH) // MICRO}-{attempt.id}"


def decode_cursor(text: str | None) -> tuple[dt.datetime, int] | None:
    match = CURSOR_RE.match(text or "")
    if match is None:
        return None
    micros, attempt_id = int(match[1]), int(match[2])
    try:
        moment = EPOCH + micros * MICRO
    except OverflowError:
        return None
    return moment, attempt_id


def list_payments(slug: str, filters: Filters, cursor: str | None = None) -> Page:
    where = _conditions(slug, filters)
    query = select(A).where(*where)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(tuple_(A.created_at, A.id) < tuple_(*after))
    rows = list(
        db.session.scalars(query.order_by(A.created_at.desc(), A.id.desc()).limit(PAGE_SIZE + 1))
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return Page(
        attempts=rows,
        next_cursor=encode_cursor(rows[-1]) if more and rows else None,
        totals=_totals(where) if after is None else None,
    )


def _totals(where: list) -> list[tuple[str, int, int]]:
    """Count and sum by status over the whole filter: an index-only scan of
    ``ix_payment_attempts_tenant_created`` (every filterable column rides in it)."""
    totals = db.session.execute(
        select(A.status, func.count(), func.coalesce(func.sum(A.amount_cents), 0))
        .where(*where)
        .group_by(A.status)
        .order_by(A.status)
    ).all()
    return [(s, int(n), int(c)) for s, n, c in totals]


def get_payment(slug: str, attempt_id: int) -> PaymentAttempt | None:
    return db.session.scalars(select(A).where(A.tenant == slug, A.id == attempt_id)).first()


@dataclass
class Detail:
    attempt: PaymentAttempt
    bills: list[tuple[Bill, int]]
    transitions: list[AttemptTransition]
    events: list[GatewayEvent]
    reviews: list[PaymentReview]
    notes: list[StaffNote]
    related: list[PaymentAttempt]  # other attempts under the same reference (checkout retries)


def payment_detail(slug: str, attempt: PaymentAttempt) -> Detail:
    bills = db.session.execute(
        select(Bill, AttemptBill.amount_cents)
        .join(AttemptBill, AttemptBill.bill_id == Bill.id)
        .where(AttemptBill.attempt_id == attempt.id, Bill.tenant == slug)
        .order_by(Bill.id)
    ).all()
    transitions = db.session.scalars(
        select(AttemptTransition)
        .where(AttemptTransition.attempt_id == attempt.id, AttemptTransition.tenant == slug)
        .order_by(AttemptTransition.id)
    ).all()
    event_match = [and_(GatewayEvent.tenant == slug, GatewayEvent.reference == attempt.reference)]
    if attempt.gateway_txn_id:
        event_match.append(
            and_(GatewayEvent.tenant == slug, GatewayEvent.gateway_txn_id == attempt.gateway_txn_id)
        )
    events = db.session.scalars(
        select(GatewayEvent).where(or_(*event_match)).order_by(GatewayEvent.id).limit(100)
    ).all()
    reviews = db.session.scalars(
        select(PaymentReview)
        .where(PaymentReview.attempt_id == attempt.id, PaymentReview.tenant == slug)
        .order_by(PaymentReview.id)
    ).all()
    notes = db.session.scalars(
        select(StaffNote)
        .where(StaffNote.attempt_id == attempt.id, StaffNote.tenant == slug)
        .order_by(StaffNote.id)
    ).all()
    related = db.session.scalars(
        select(A)
        .where(A.tenant == slug, A.reference == attempt.reference, A.id != attempt.id)
        .order_by(A.id)
    ).all()
    return Detail(
        attempt=attempt,
        bills=[(bill, int(cents)) for bill, cents in bills],
        transitions=list(transitions),
        events=list(events),
        reviews=list(reviews),
        notes=list(notes),
        related=list(related),
    )


def requery(tenant: Tenant, attempt: PaymentAttempt, staff: StaffUser) -> tuple[str, str]:
    """ "Consultar ahora": ask the gateway at once, through the transition table (source staff).

    Returns (flash category, Spanish message). No transaction is open during the call
    (``check_attempt`` ends the session's transaction before it asks).
    """
    from gaspay.payments.receipts import STATE_WORDS

    attempt_id, before, reference = attempt.id, attempt.status, attempt.reference
    try:
        check_attempt(tenant, attempt, "staff")
    except GatewayRejected as exc:
        code = f" (código {exc.status_code})" if getattr(exc, "status_code", None) else ""
        outcome = ("warn", f"La pasarela rechazó la consulta{code}. El pago sigue como estaba.")
    except GatewayError:
        outcome = (
            "warn",
            "La pasarela no respondió. El pago sigue como estaba; intente más tarde.",
        )
    else:
        after = db.session.get(A, attempt_id, populate_existing=True).status
        if after != before:
            outcome = ("ok", f"Estado actualizado: {STATE_WORDS[before]} → {STATE_WORDS[after]}.")
        else:
            outcome = ("ok", f"La pasarela respondió; el estado sigue: {STATE_WORDS[after]}.")
    db.session.rollback()
    audit.log(tenant.slug, staff.email, "requery", reference, outcome[1])
    return outcome


def add_note(slug: str, attempt: PaymentAttempt, staff: StaffUser, text: str) -> StaffNote:
    text = (text or "").strip()
    if not text:
        raise ValueError("Escriba la nota.")
    if len(text) > MAX_NOTE:
        raise ValueError(f"La nota no puede pasar de {MAX_NOTE} caracteres.")
    with write_unit():
        note = StaffNote(tenant=slug, attempt_id=attempt.id, author=staff.email, text=text)
        db.session.add(note)
        audit.record(slug, staff.email, "note", attempt.reference, text[:200])
    return note


# What a received gateway event did (gaspay.payments.events records it), in the staff's words.
EVENT_OUTCOMES = {
    "applied": "Aplicado",
    "no_change": "Sin cambio (ya se sabía)",
    "duplicate": "Repetido (ya recibido)",
    "ignored": "Ignorado (otro tipo de evento)",
    "malformed": "Mal formado",
    "unknown_reference": "Referencia desconocida",
    "provider_mismatch": "De otra pasarela (no aplicado)",
    "query_refused": "La pasarela no reconoce la transacción",
}


def outcome_word(outcome: str | None) -> str:
    if not outcome:
        return "—"
    if outcome.startswith("mismatch"):
        return "No coincide con el pago" + outcome[len("mismatch") :]
    return EVENT_OUTCOMES.get(outcome, outcome)
