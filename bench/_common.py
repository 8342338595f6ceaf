"""What the modules of the HTTP benchmark (``bench/http_bench.py``) share: the matrix of
scenarios and connections, their labels, and how progress is logged."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = (16, 64)
LOOKUP_NUMBERS = 500
SCENARIOS = (
    "bare_get",
    "bare_post",
    "query_floor",
    "lookup",
    "lookup_1m",
    "notices",
    "events",
    "static",
)
LABELS = {
    "bare_get": "bare GET (ceiling)",
    "bare_post": "bare POST (ceiling)",
    "query_floor": "bare GET + the lookup's query (10 k bills)",
    "lookup": "guest lookup, htmx (10 k bills)",
    "lookup_1m": "guest lookup, htmx (1 M bills)",
    "notices": "customer's notice list",
    "events": "Wompi events (1 change each)",
    "static": "static file",
}


def log(message: str) -> None:
    print(message, flush=True)


def rows_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000} M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000} k"
    return f"{n:,}"
