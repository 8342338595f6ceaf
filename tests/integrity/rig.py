"""The rig's constants: where things are, which database, how many servers, which keys."""

from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PG_URL = os.environ.get("GASPAY_TEST_DATABASE_URL")
ENGINE = "postgresql" if PG_URL else "sqlite"
SERVERS = 2 if PG_URL else 1
GATEWAY_TIMEOUT = 1  # seconds: the app gives up on the gateway after this
TENANTS = ("insesp", "interservicios")
# The PlacetoPay demo tenant and its production-shaped site credentials at the fake PlacetoPay.
P2P_TENANT = "gasnova"
P2P_LOGIN = "gasnova_integrity_login"
P2P_SECRET = "gasnova-integrity-secret-key"
# Connection names of this run (other runs of the suite may share the PostgreSQL server).
SERVER_APP_NAME = f"gaspay-integrity-server-{os.getpid()}"
LOCAL_APP_NAME = f"gaspay-integrity-local-{os.getpid()}"


def keys(slug: str) -> dict[str, str]:
    """Explicit, production-shaped keys (no sandbox marker) for each tenant's merchant account.

    Shaped so that no scan for leaked live keys mistakes them for real ones (``rig-`` after the
    prefix)."""
    return {
        "public_key": f"pub_prod_rig-{slug}",
        "private_key": f"prv_prod_rig-{slug}",
        "integrity_secret": f"prod_integrity_rig-{slug}",
        "events_secret": f"prod_events_rig-{slug}",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
