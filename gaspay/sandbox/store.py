"""In-memory transactions and events of the emulator (one process, lost on restart by design).

Tests call `reset()` between cases and read `transactions()` / `events()`.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

FINAL = frozenset({"APPROVED", "DECLINED", "VOIDED", "ERROR"})

_lock = threading.Lock()
_transactions: dict[str, Transaction] = {}
_events: list[dict] = []


def iso(moment: datetime | None) -> str | None:
    """Wompi's timestamp format: `2023-06-09T20:28:50.000Z`."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Transaction:
    id: str
    slug: str
    merchant_key: str
    reference: str
    amount_in_cents: int
    currency: str
    customer_email: str
    payment_method: dict
    origin: str  # "api" or "checkout"
    redirect_url: str | None = None
    customer_data: dict | None = None
    taxes: list = field(default_factory=list)
    status: str = "PENDING"
    status_message: str | None = None
    created_at: datetime = field(default_factory=now)
    finalized_at: datetime | None = None
    async_url: str | None = None
    async_visible: bool = False
    created_monotonic: float = field(default_factory=time.monotonic)
    polls: int = 0

    @property
    def method_type(self) -> str:
        return self.payment_method["type"]

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def extra(self) -> dict:
        return self.payment_method.setdefault("extra", {})

    def to_json(self) -> dict:
        """The transaction as Wompi's API shows it."""
        method = copy.deepcopy(self.payment_method)
        if self.async_url and self.async_visible:
            method.setdefault("extra", {})["async_payment_url"] = self.async_url
        return {
            "id": self.id,
            "created_at": iso(self.created_at),
            "finalized_at": iso(self.finalized_at),
            "amount_in_cents": self.amount_in_cents,
            "reference": self.reference,
            "customer_email": self.customer_email,
            "currency": self.currency,
            "payment_method_type": self.method_type,
            "payment_method": method,
            "status": self.status,
            "status_message": self.status_message,
            "billing_data": None,
            "shipping_address": None,
            "redirect_url": self.redirect_url,
            "payment_source_id": None,
            "payment_link_id": None,
            "customer_data": copy.deepcopy(self.customer_data),
            "bill_id": None,
            "taxes": copy.deepcopy(self.taxes),
            "tip_in_cents": None,
        }


def new_id(merchant_number: int) -> str:
    """Ids shaped like Wompi's: `11004-1718123303-80111`."""
    return f"{merchant_number}-{int(time.time())}-{random.randint(10000, 99999)}"


def add(txn: Transaction, *, unique_reference: bool = False) -> bool:
    """Store a new transaction (fresh id on a clash); False if the reference is taken."""
    with _lock:
        if unique_reference and any(
            t.merchant_key == txn.merchant_key and t.reference == txn.reference
            for t in _transactions.values()
        ):
            return False
        while txn.id in _transactions:
            txn.id = new_id(int(txn.id.split("-", 1)[0]))
        _transactions[txn.id] = copy.deepcopy(txn)
        return True


def get(txn_id: str) -> Transaction | None:
    with _lock:
        txn = _transactions.get(txn_id)
        return copy.deepcopy(txn) if txn else None


def update(txn_id: str, change: Callable[[Transaction], None]) -> Transaction | None:
    """Apply `change` to the stored transaction under the lock; return a copy afterwards."""
    with _lock:
        txn = _transactions.get(txn_id)
        if txn is None:
            return None
        change(txn)
        return copy.deepcopy(txn)


def poll(txn_id: str, async_delay: float) -> Transaction | None:
    """A read through the API: the bank URL shows up after a first poll or a short delay."""

    def seen(txn: Transaction) -> None:
        waited = time.monotonic() - txn.created_monotonic
        if txn.async_url and (txn.polls > 0 or waited >= async_delay):
            txn.async_visible = True
        txn.polls += 1

    return update(txn_id, seen)


def find(merchant_key: str, reference: str) -> list[Transaction]:
    with _lock:
        found = [
            copy.deepcopy(t)
            for t in _transactions.values()
            if t.merchant_key == merchant_key and t.reference == reference
        ]
    return sorted(found, key=lambda t: t.created_monotonic)


def transactions() -> list[Transaction]:
    """Every transaction, newest first."""
    with _lock:
        found = [copy.deepcopy(t) for t in _transactions.values()]
    return sorted(found, key=lambda t: t.created_monotonic, reverse=True)


def record_event(url: str, body: dict) -> None:
    with _lock:
        _events.append({"url": url, "body": copy.deepcopy(body)})


def events() -> list[dict]:
    """Every event built so far (sent or not), oldest first: `{"url": ..., "body": ...}`."""
    with _lock:
        return copy.deepcopy(_events)


def reset() -> None:
    with _lock:
        _transactions.clear()
        _events.clear()
