"""The lookup's two limits (per address, per looked-up number) in one Redis round trip.

Run against the machine's Redis (database 14, a prefix of its own per test) and against the
in-memory store of development; both must refuse at the same point.
"""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from tests.conftest import csrf_from

REDIS_URL = "redis://127.0.0.1:6379/14"


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


STORES = [
    "memory://",
    pytest.param(
        REDIS_URL, marks=pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1")
    ),
]


@pytest.fixture
def poster(make_app, app, make_bill):
    def factory(store: str, **config):
        make_bill(client="0021053")
        prefix = f"gaspay-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        client = make_app(
            RATELIMIT_STORAGE_URI=store, RATELIMIT_KEY_PREFIX=prefix, **config
        ).test_client()
        token = csrf_from(client.get("/insesp/factura").get_data(as_text=True))

        def post(number: str, ip: str = "10.9.0.1"):
            return client.post(
                "/insesp/factura",
                data={"numero": number, "csrf_token": token},
                environ_base={"REMOTE_ADDR": ip},
            ).status_code

        return post

    return factory


@pytest.mark.parametrize("store", STORES)
def test_the_per_address_limit_refuses_at_its_count(poster, store):
    post = poster(store, LOOKUP_RATE_LIMIT="4 per minute")
    assert [post(str(30000 + i)) for i in range(6)] == [200] * 4 + [429] * 2


@pytest.mark.parametrize("store", STORES)
def test_the_per_number_limit_refuses_from_any_address(poster, store):
    post = poster(store, LOOKUP_TARGET_RATE_LIMIT="3 per minute")
    assert [post("21053", ip=f"10.9.1.{i}") for i in range(5)] == [200] * 3 + [429] * 2
    assert post("21054", ip="10.9.1.9") == 200  # another number keeps its own budget


@pytest.mark.parametrize("store", STORES)
def test_several_windows_in_one_limit_each_count(poster, store):
    post = poster(store, LOOKUP_RATE_LIMIT="100 per minute;2 per hour")
    assert [post(str(31000 + i)) for i in range(3)] == [200, 200, 429]


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1")
def test_both_limits_cost_one_round_trip(poster, monkeypatch):
    post = poster(REDIS_URL)
    post("21053")  # the script is loaded once
    sent = []
    real = redis.Redis.execute_command

    def counting(self, *args, **options):
        sent.append(args[0])
        return real(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    assert post("21053") == 200
    assert sent == ["EVALSHA"]


def test_the_lookup_page_itself_is_not_counted(poster):
    post = poster("memory://", LOOKUP_RATE_LIMIT="1 per minute")
    assert post("21053") == 200
    assert post("21054") == 429


def test_flask_limiters_own_pass_skips_only_views_counted_together(app, client, monkeypatch):
    """The lookup's limits are all counted by ``limits_together``: the library's pass, which
    it skips there, would have found none of its own; every other view keeps that pass."""
    from flask_limiter.util import get_qualified_name

    from gaspay.extensions import limiter

    together = {e: v for e, v in app.view_functions.items() if getattr(v, "limits_together", 0)}
    assert {e.rpartition(".")[2] for e in together} == {"lookup"}
    manager = limiter.limit_manager
    assert not manager.application_limits and not manager.default_limits
    for endpoint, view in together.items():
        assert not manager.decorated_limits(get_qualified_name(view)), endpoint
        assert not manager.blueprint_limits(app, endpoint.rpartition(".")[0]), endpoint
    passes = []
    resolve = manager.resolve_limits
    monkeypatch.setattr(manager, "resolve_limits", lambda *a: passes.append(a[1]) or resolve(*a))
    client.get("/insesp/factura")
    client.get("/insesp/factura/seleccion")  # decorated by the library: its pass runs
    assert set(passes) == {"insesp.billing.selection"}
