"""Malformed lookups (outside review, point 15): counted per client address, not per tenant.

The per-number limit (GASPAY_LOOKUP_TARGET_RATE_LIMIT, 20 per minute by default) keeps one
client number from being hammered from many addresses. A malformed number targets no client:
it used to share one bucket per tenant ("<slug>:invalid"), so 22 typos from 22 addresses made
every payer's next typo a 429. Now each address has its own bucket for malformed numbers;
well-formed numbers keep the per-number limit.
"""

from __future__ import annotations

import pytest

from tests.conftest import csrf_from

TARGET_LIMIT = "20 per minute"  # the default (gaspay/config.py)
TYPO_MESSAGE = "El número solo puede tener dígitos y letras"


@pytest.fixture
def lookup(make_app, app):
    """`lookup(number, ip)`: one POST of the guest lookup form from that address."""
    client = make_app(LOOKUP_TARGET_RATE_LIMIT=TARGET_LIMIT).test_client()
    token = csrf_from(client.get("/insesp/factura").get_data(as_text=True))

    def post(number: str, ip: str):
        return client.post(
            "/insesp/factura",
            data={"numero": number, "csrf_token": token},
            environ_base={"REMOTE_ADDR": ip},
        )

    return post


def test_typos_from_many_addresses_do_not_lock_out_an_honest_payer(lookup):
    for i in range(22):  # 22 addresses, one typo each: more than the per-number limit
        response = lookup(f"2105{i};", f"192.0.2.{i + 1}")
        assert response.status_code == 422, (i, response.status_code)
    honest = lookup("21.053á", "198.51.100.7")  # a payer's own typo, from a new address
    assert honest.status_code == 422
    assert TYPO_MESSAGE in honest.get_data(as_text=True)


def test_typos_from_one_address_still_meet_a_limit(lookup):
    codes = [lookup(f"x{i}-ñ", "203.0.113.9").status_code for i in range(21)]
    assert codes == [422] * 20 + [429]
    assert lookup("x-ñ", "203.0.113.10").status_code == 422  # another address: its own bucket


def test_a_well_formed_number_keeps_its_limit_across_addresses(lookup, make_bill):
    make_bill()
    codes = [lookup("0021053", f"192.0.2.{i + 1}").status_code for i in range(21)]
    assert codes == [200] * 20 + [429]
    assert lookup("21053", "198.51.100.8").status_code == 429  # the same number, spelt anew
