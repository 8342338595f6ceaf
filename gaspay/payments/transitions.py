"""The one table that decides every payment status change.

Inputs are the gateway's statuses (from a status query or an event) plus two of our own:
``REJECTED`` (the gateway refused to create the transaction: nothing was charged) and
``EXPIRE`` (the gateway has no transaction for our reference long after we tried).
``decide`` answers the next status, or ``None`` when the input must be ignored (and logged).
"""

from __future__ import annotations

CREATED = "created"  # recorded; the gateway's answer is not known yet
PENDING = "pending"
APPROVED = "approved"
DECLINED = "declined"
FAILED = "failed"
VOIDED = "voided"
EXPIRED = "expired"

STATUSES = (CREATED, PENDING, APPROVED, DECLINED, FAILED, VOIDED, EXPIRED)
FINAL = frozenset({APPROVED, DECLINED, FAILED, VOIDED, EXPIRED})
LIVE = frozenset({CREATED, PENDING})
# Final states after which the bill may be paid again (the hold is released).
RELEASING = frozenset({DECLINED, FAILED, VOIDED, EXPIRED})

GATEWAY_PENDING = "PENDING"
GATEWAY_APPROVED = "APPROVED"
GATEWAY_DECLINED = "DECLINED"
GATEWAY_ERROR = "ERROR"
GATEWAY_VOIDED = "VOIDED"
REJECTED = "REJECTED"
EXPIRE = "EXPIRE"

INPUTS = (
    GATEWAY_PENDING,
    GATEWAY_APPROVED,
    GATEWAY_DECLINED,
    GATEWAY_ERROR,
    GATEWAY_VOIDED,
    REJECTED,
    EXPIRE,
)

TABLE: dict[str, dict[str, str]] = {
    CREATED: {
        GATEWAY_PENDING: PENDING,
        GATEWAY_APPROVED: APPROVED,
        GATEWAY_DECLINED: DECLINED,
        GATEWAY_ERROR: FAILED,
        GATEWAY_VOIDED: VOIDED,
        REJECTED: FAILED,
        EXPIRE: EXPIRED,
    },
    PENDING: {
        GATEWAY_APPROVED: APPROVED,
        GATEWAY_DECLINED: DECLINED,
        GATEWAY_ERROR: FAILED,
        GATEWAY_VOIDED: VOIDED,
        EXPIRE: EXPIRED,
    },
}


# The inputs that confirm each final state; any other input after it contradicts it.
CONFIRMS: dict[str, frozenset[str]] = {
    APPROVED: frozenset({GATEWAY_APPROVED}),
    DECLINED: frozenset({GATEWAY_DECLINED}),
    FAILED: frozenset({GATEWAY_ERROR, REJECTED}),
    VOIDED: frozenset({GATEWAY_VOIDED}),
    EXPIRED: frozenset({EXPIRE}),
}


def contradicts(current: str, incoming: str, *, authoritative: bool) -> bool:
    """Does an input the table ignores after a final state say something else than that state?

    A status query (``authoritative``) is the gateway's word now: any other status contradicts
    the final state, PENDING included. An event is a notice of some past moment and may arrive
    out of order: a late PENDING event is stale, but a different final status (VOIDED or
    DECLINED after APPROVED: money reversed) contradicts.
    """
    if current not in FINAL or incoming in CONFIRMS[current]:
        return False
    return authoritative or incoming != GATEWAY_PENDING


def decide(current: str, incoming: str) -> str | None:
    """The next status for ``incoming`` in ``current``, or None to ignore it."""
    if current not in STATUSES:
        raise ValueError(f"unknown status {current!r}")
    if incoming not in INPUTS:
        raise ValueError(f"unknown input {incoming!r}")
    return TABLE.get(current, {}).get(incoming)
