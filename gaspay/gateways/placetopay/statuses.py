"""PlacetoPay's statuses mapped onto the transition table's inputs, as plain strings.

The values are the input names of ``gaspay/payments/transitions.py`` (``PENDING``, ``APPROVED``,
``DECLINED``, ``ERROR``, ``VOIDED``), spelt out here so that this package imports nothing from
``gaspay.payments``. ``None`` means "no definite answer": the core keeps the attempt as it is,
asks again later and flags it for review if it never clears (reliability promise 26). Every
status docs/placetopay.md lists is here; anything else is unknown and maps to None too
(``session_input`` / ``transaction_input``).

Which mapping applies: the SESSION status (top of a query, and of a notification) decides; the
transactions only supply the receipt and the refund flag (``values.SessionInfo.settle``).
"""

from __future__ import annotations

# The transition table's inputs (gaspay.payments.transitions.GATEWAY_*), as strings.
PENDING = "PENDING"
APPROVED = "APPROVED"
DECLINED = "DECLINED"
ERROR = "ERROR"
VOIDED = "VOIDED"
INPUTS = frozenset({PENDING, APPROVED, DECLINED, ERROR, VOIDED})

#: Request statuses: the outcome of a call (create, cancel, a failed query), not of a payment.
REQUEST_OK = "OK"
REQUEST_FAILED = "FAILED"

SESSION_STATUSES: dict[str, str | None] = {
    # The start state; also "a transaction was rejected but the payer may retry", "one awaits
    # validation", "a PSE debit is still at the bank (?-)". Never final.
    "PENDING": PENDING,
    # Paid. Only with an APPROVED transaction matching reference, amount and currency does the
    # core approve; ``settle`` checks that and reports VOIDED when that transaction is refunded.
    "APPROVED": APPROVED,
    # Final: payer cancelled (?C), merchant cancelled (MC), expired with nothing approved, the
    # attempts limit (2.27.0), or XN. Nothing was charged: the bill may be paid again.
    "REJECTED": DECLINED,
    # Partial sessions only (we always send allowPartial=false, so this must not occur). Part of
    # the money may already be collected and more may follow: neither paid nor failed. The
    # docs' table says ERROR, but ERROR fails the attempt and releases the bill while money was
    # taken; None keeps the hold and sends the attempt to review, where a person decides.
    "APPROVED_PARTIAL": None,
    # Partial sessions only: part paid, then expired. Final for PlacetoPay, but money was taken
    # for less than the bill: same reasoning as APPROVED_PARTIAL, review rather than ERROR.
    "PARTIAL_EXPIRED": None,
    # A request status, not a session status: a query that answers FAILED told us nothing
    # about the payment (the client raises GatewayUnavailable before this is ever consulted).
    "FAILED": None,
    # A request status too ("the request was processed"); never a session's state.
    "OK": None,
}

TRANSACTION_STATUSES: dict[str, str | None] = {
    "APPROVED": APPROVED,
    "REJECTED": DECLINED,
    "PENDING": PENDING,
    # "?*": awaiting the merchant's or PlacetoPay's validation; may still be approved.
    "PENDING_VALIDATION": PENDING,
    # Confirmation flow only (not used by us); still undecided.
    "PENDING_CONFIRMATION": PENDING,
    # The transaction could not be processed (e.g. payer_data_not_valid): nothing charged.
    "FAILED": ERROR,
    # Known to the SDK: the approved money went back.
    "REFUNDED": VOIDED,
    # Known to the SDK with no documented meaning. "Error" suggests nothing was charged, but an
    # undocumented status is no definite answer: review rather than release the bill.
    "ERROR": None,
    # Known to the SDK: by name, PlacetoPay itself does not know.
    "UNKNOWN": None,
}

#: Session statuses after which PlacetoPay changes nothing any more.
FINAL_SESSION_STATUSES = frozenset({"APPROVED", "REJECTED", "PARTIAL_EXPIRED"})
#: Statuses that can only come from a session created with allowPartial=true.
PARTIAL_STATUSES = frozenset({"APPROVED_PARTIAL", "PARTIAL_EXPIRED"})

#: Reasons worth naming (docs/placetopay.md "Statuses and reasons"). Show ``message`` to people.
REASON_APPROVED = "00"
REASON_PENDING = "PT"
REASON_PENDING_AT_BANK = "?-"
REASON_PENDING_VALIDATION = "?*"
REASON_PAYER_CANCELLED = "?C"
REASON_MERCHANT_CANCELLED = "MC"
REASON_REJECTED = "XN"


def session_input(status: str | None) -> str | None:
    """The transition-table input for a session status; None when unknown or undecided."""
    return SESSION_STATUSES.get(status) if isinstance(status, str) else None


def transaction_input(status: str | None) -> str | None:
    """The transition-table input for a transaction status; None when unknown or undecided."""
    return TRANSACTION_STATUSES.get(status) if isinstance(status, str) else None
