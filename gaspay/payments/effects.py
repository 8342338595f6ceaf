"""What a payment's status change causes besides itself.

Called by ``payments.services`` inside the very write unit that moves the attempt (or flags
it), so whatever is written here — an outbox message, a webhook — commits with the change or
not at all. Nothing here may call the network.
"""

from __future__ import annotations


def after_transition(attempt_id: int, tenant: str, from_status: str, to_status: str) -> None:
    """The attempt moved from ``from_status`` to ``to_status`` (inside the write unit)."""


def after_flag(attempt_id: int, tenant: str, reason: str) -> None:
    """The attempt was flagged for staff review (inside the write unit)."""
