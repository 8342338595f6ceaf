"""Promise 18: the bill lookup cannot be used to walk client numbers.

A guest who types a number sees that client's bills; that is the product. What must not happen
is telling "exists" from "does not exist" by anything but the page itself (status, timing), or
trying thousands of numbers: the lookup is limited per IP and per looked-up number, the number
counted once however it is spelled, and a forged X-Forwarded-For does not reset the count.

Already covered elsewhere (referenced from docs/RELIABILITY.md): per-IP and per-target limits
(tests/test_billing.py), the same answer for reset requests of unknown and known e-mails and for
wrong e-mail vs wrong password (tests/test_accounts.py).
"""

from __future__ import annotations

import re
import statistics
import time

import pytest

from tests.conftest import CSRF_RE, csrf_from

KNOWN = "0021053"
UNKNOWN = "0099881"
TRIES = 21


@pytest.fixture
def lookup(make_app, app, make_bill):
    """A fresh app (no limit reached yet) and a poster for `/insesp/factura`."""

    def factory(**config):
        make_bill(client=KNOWN)
        client = make_app(**config).test_client()
        token = csrf_from(client.get("/insesp/factura").get_data(as_text=True))

        def post(number: str, ip: str = "10.1.1.1", **headers):
            return client.post(
                "/insesp/factura",
                data={"numero": number, "csrf_token": token},
                headers=headers,
                environ_base={"REMOTE_ADDR": ip},
            )

        return post

    return factory


def _without_tokens(response) -> str:
    """The page without its CSRF tokens, which are signed with the time."""
    html = CSRF_RE.sub("", response.get_data(as_text=True))
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def _timed(post, number: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = post(number)
    return response.status_code, time.perf_counter() - started


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_known_and_unknown_numbers_answer_alike_in_status_and_time(lookup, htmx):
    post = lookup()
    headers = {"HX-Request": "true"} if htmx else {}

    def ask(number):
        return post(number, **headers)

    _timed(ask, KNOWN), _timed(ask, UNKNOWN)  # warm caches: templates, queries
    known, unknown = [], []
    for _ in range(TRIES):  # interleaved, so drift hits both the same
        known.append(_timed(ask, KNOWN))
        unknown.append(_timed(ask, UNKNOWN))
    assert {s for s, _ in known} == {s for s, _ in unknown} == {200}
    known_ms = statistics.median(t for _, t in known) * 1000
    unknown_ms = statistics.median(t for _, t in unknown) * 1000
    # Generous: the found page renders more HTML; what must not exist is a gap an attacker can
    # measure over the network (a slow hash, a gateway call, a sleep on one branch only).
    assert abs(known_ms - unknown_ms) < max(25.0, 1.5 * unknown_ms), (known_ms, unknown_ms)


def test_the_per_number_limit_counts_every_spelling_of_a_number(lookup):
    """'0021053', '21053', '21.053', '021-053' are one client: one budget, from any IP."""
    post = lookup(LOOKUP_TARGET_RATE_LIMIT="3 per minute")
    spellings = ["0021053", "21053", "21.053", "021-053", " 21053 "]
    codes = [post(n, ip=f"10.2.0.{i}").status_code for i, n in enumerate(spellings)]
    assert codes == [200, 200, 200, 429, 429]


def test_the_per_number_limit_is_the_same_for_numbers_that_do_not_exist(lookup):
    """The 429 cannot tell existence either: same point, same page."""
    post = lookup(LOOKUP_TARGET_RATE_LIMIT="2 per minute")
    known = [post(KNOWN, ip=f"10.3.0.{i}") for i in range(3)]
    unknown = [post(UNKNOWN, ip=f"10.4.0.{i}") for i in range(3)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [200, 200, 429]
    assert _without_tokens(known[-1]) == _without_tokens(unknown[-1])


def test_a_forged_forwarded_for_header_does_not_reset_the_ip_limit(lookup):
    """Without GASPAY_PROXY_HOPS the app does not trust X-Forwarded-For: rotating it is useless."""
    post = lookup(LOOKUP_RATE_LIMIT="3 per minute")
    codes = [
        post(str(5000 + i), **{"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"203.0.{i}.1"})
        for i in range(5)
    ]
    assert [c.status_code for c in codes] == [200, 200, 200, 429, 429]


def test_walking_numbers_from_one_ip_stops_at_the_ip_limit(lookup):
    """A walk over consecutive numbers (each a fresh target) is stopped by the per-IP limit."""
    post = lookup(LOOKUP_RATE_LIMIT="10 per minute")
    codes = [post(str(21040 + i)).status_code for i in range(15)]
    assert codes == [200] * 10 + [429] * 5
