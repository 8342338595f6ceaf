"""The one policy that decides when a live attempt is next asked about.

Every live attempt always has a next check (the job also sweeps any without one). The first
check follows the moment the payer left for the gateway; after that the job asks at a steady
interval, and at a slower pace once the attempt is older than the company's review limit (it is
flagged then, and stays held: the money may still move).
"""

from __future__ import annotations

import datetime as dt

from flask import current_app

from gaspay.timeutil import as_utc

# Before the payer is known to have left for the gateway (the create's answer is not known yet,
# or the bank URL did not arrive in time): ask again soon.
UNCONFIRMED_MINUTES = 2


def _minutes(name: str) -> dt.timedelta:
    return dt.timedelta(minutes=current_app.config[name])


def first_check(now: dt.datetime, *, left_for_gateway: bool) -> dt.datetime:
    """When to ask first: after the payer left for the bank or checkout, or soon if unknown."""
    if left_for_gateway:
        return now + _minutes("RECONCILE_FIRST_DELAY_MINUTES")
    return now + dt.timedelta(minutes=UNCONFIRMED_MINUTES)


def is_stuck(created_at: dt.datetime, now: dt.datetime, review_hours: int) -> bool:
    """Older than the company's limit and still live: staff should know."""
    return now - as_utc(created_at) > dt.timedelta(hours=review_hours)


def next_check(created_at: dt.datetime, now: dt.datetime, review_hours: int) -> dt.datetime:
    """After a check that left the attempt live (or gave no definite answer)."""
    if is_stuck(created_at, now, review_hours):
        return now + _minutes("RECONCILE_SLOW_INTERVAL_MINUTES")
    return now + _minutes("RECONCILE_INTERVAL_MINUTES")
