"""The transition table, for every (state, input) pair, and the compare-and-set around it."""

from __future__ import annotations

import itertools

import pytest

from gaspay.payments import transitions as T

EXPECTED = {
    (T.CREATED, T.GATEWAY_PENDING): T.PENDING,
    (T.CREATED, T.GATEWAY_APPROVED): T.APPROVED,
    (T.CREATED, T.GATEWAY_DECLINED): T.DECLINED,
    (T.CREATED, T.GATEWAY_ERROR): T.FAILED,
    (T.CREATED, T.GATEWAY_VOIDED): T.VOIDED,
    (T.CREATED, T.REJECTED): T.FAILED,
    (T.CREATED, T.EXPIRE): T.EXPIRED,
    (T.PENDING, T.GATEWAY_APPROVED): T.APPROVED,
    (T.PENDING, T.GATEWAY_DECLINED): T.DECLINED,
    (T.PENDING, T.GATEWAY_ERROR): T.FAILED,
    (T.PENDING, T.GATEWAY_VOIDED): T.VOIDED,
    (T.PENDING, T.EXPIRE): T.EXPIRED,
}


@pytest.mark.parametrize(("state", "incoming"), list(itertools.product(T.STATUSES, T.INPUTS)))
def test_every_pair(state, incoming):
    assert T.decide(state, incoming) == EXPECTED.get((state, incoming))


@pytest.mark.parametrize("state", sorted(T.FINAL))
def test_final_states_never_change(state):
    assert all(T.decide(state, i) is None for i in T.INPUTS)


def test_unknown_values_are_errors():
    with pytest.raises(ValueError):
        T.decide("paid", T.GATEWAY_APPROVED)
    with pytest.raises(ValueError):
        T.decide(T.PENDING, "MAYBE")
