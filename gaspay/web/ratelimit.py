"""Several rate limits of one request counted in one storage round trip.

Flask-Limiter counts each limit of a route with its own call to the store: two limits on the
guest lookup (per address, per looked-up number) cost two Redis round trips on every lookup.
``limits_together`` counts them in one: one Lua script increments every key (fixed windows, the
same keys, expiries and arithmetic as the ``limits`` library's fixed-window strategy) and
returns every count. Other stores (``memory://`` in development and tests, or Flask-Limiter's
in-memory fallback while Redis is down) go through the library's strategy, one limit at a time.
A breach answers 429 through the app's Spanish error page, as Flask-Limiter's does.

Such a view's limits are all counted here, so Flask-Limiter's own pass over the request (before
every view: find the route's limits, the blueprint's, the defaults) is skipped for it: it would
only find none (``tests/test_ratelimit_together.py`` holds that it finds none). The profile of
issue 16: 2 % of a lookup's CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort, current_app, request
from limits import parse_many
from limits.storage import RedisStorage

from gaspay.extensions import limiter

# KEYS: the counters; ARGV: each key's window in seconds, then the cost. Returns every count.
_INCR_ALL = """
local counts = {}
local cost = tonumber(ARGV[#ARGV])
for i, key in ipairs(KEYS) do
  local current = redis.call("incrby", key, cost)
  if tonumber(current) == cost then
    redis.call("expire", key, ARGV[i])
  end
  counts[i] = current
end
return counts
"""
_scripts: dict[int, object] = {}

Spec = tuple[Callable[[], str], Callable[[], str]]  # (limit string, key) read per request


@limiter.request_filter
def counted_together() -> bool:
    """Flask-Limiter's filter: True (skip its pass) for a view decorated by ``limits_together``."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "limits_together", False)


def limits_together(*specs: Spec, methods: tuple[str, ...] = ("POST",)):
    """Decorate a view: every (limit, key) pair is counted on each request of ``methods``, all
    in one round trip to Redis; any breached limit answers 429."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if request.method in methods and limiter.enabled:
                scope = request.endpoint or view.__name__
                if not _hit_all(scope, specs):
                    abort(429)
            return view(*args, **kwargs)

        wrapper.limits_together = True
        return wrapper

    return decorate


def _hit_all(scope: str, specs: tuple[Spec, ...]) -> bool:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    checks = []  # (limit item, identifiers)
    for limit_value, key_func in specs:
        identifiers = [part for part in (prefix, key_func(), scope) if part]
        checks.extend((item, identifiers) for item in parse_many(limit_value()))
    strategy = limiter.limiter
    if not isinstance(strategy.storage, RedisStorage):
        return all([strategy.hit(item, *ids) for item, ids in checks])  # hit every one
    try:
        return _hit_redis(strategy.storage, checks)
    except Exception:  # as Flask-Limiter does: fall back to memory, or swallow, or fail
        if getattr(limiter, "_in_memory_fallback_enabled", False) and not limiter._storage_dead:
            current_app.logger.warning("rate limit storage unreachable: in-memory fallback")
            limiter._storage_dead = True
            return _hit_all(scope, specs)
        if getattr(limiter, "_swallow_errors", False):
            current_app.logger.exception("rate limit storage failed: not limited")
            return True
        raise


def _hit_redis(storage: RedisStorage, checks) -> bool:
    script = _scripts.get(id(storage))
    if script is None:
        script = _scripts[id(storage)] = storage.get_connection().register_script(_INCR_ALL)
    keys = [storage.prefixed_key(item.key_for(*ids)) for item, ids in checks]
    counts = script(keys, [*(item.get_expiry() for item, _ in checks), 1])
    return all(int(count) <= item.amount for count, (item, _) in zip(counts, checks, strict=True))
