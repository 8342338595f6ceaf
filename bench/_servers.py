"""The databases, Redis and the gunicorn servers of the HTTP benchmark: create, start, stop,
drop. Each server is gunicorn on 127.0.0.1 with the production configuration, entry
``bench/_wsgi.py``."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT

PG_DB = "gaspay_bench_http"
REDIS_URL = "redis://127.0.0.1:6379/15"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_commands() -> int | None:
    """Redis's count of commands processed so far (``INFO stats``), or None."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as s:
            s.sendall(b"INFO stats\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                head, _, rest = data.partition(b"\r\n")
                if head.startswith(b"$") and len(rest) >= int(head[1:]):
                    break
    except (OSError, ValueError):
        return None
    match = re.search(rb"total_commands_processed:(\d+)", data)
    return int(match.group(1)) if match else None


def pg_admin(admin_url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        for statement in statements:
            conn.execute(statement)


def pg_url_for(admin_url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


def drop_database_statements(names: list[str]) -> list[str]:
    return [f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names]


def create_databases(
    engine: str, admin_url: str, workdir: Path
) -> tuple[list[str], list[str], Path | None]:
    """Three fresh databases (small, large, events): their URLs, the PostgreSQL database names
    to drop afterwards, and the SQLite directory."""
    if engine == "postgresql":
        names = [PG_DB, f"{PG_DB}_large", f"{PG_DB}_events"]
        pg_admin(
            admin_url,
            *drop_database_statements(names),
            *(f"CREATE DATABASE {n}" for n in names),
        )
        return [pg_url_for(admin_url, n) for n in names], names, None
    sqlite_dir = workdir / "sqlite"
    sqlite_dir.mkdir(exist_ok=True)
    files = ("small.sqlite3", "large.sqlite3", "events.sqlite3")
    return [f"sqlite:///{sqlite_dir / n}" for n in files], [], sqlite_dir


@dataclass
class Server:
    name: str
    engine: str
    db_url: str
    rows: int
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    env: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> set[int]:
        """The gunicorn master and its workers."""
        if not self.proc:
            return set()
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return {self.proc.pid}
        return {self.proc.pid, *(int(p) for p in text.split())}


def server_env(db_url: str, secrets_: dict, workdir: Path, limits_store: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GASPAY_")}
    instance = workdir / "instance"
    instance.mkdir(exist_ok=True)
    env.update(
        {
            "GASPAY_ENV": "production",
            "GASPAY_SECRET_KEY": secrets_["secret_key"],
            "GASPAY_DATABASE_URL": db_url,
            "GASPAY_SANDBOX": "false",
            "GASPAY_INSTANCE_PATH": str(instance),
            "GASPAY_TENANTS_DIR": str(ROOT / "instance" / "tenants"),
            "GASPAY_MAIL_DIR": str(instance / "mail"),
            # Production wants a mail server; nothing is sent during the benchmark (no
            # request sends mail), so a closed local port will do.
            "GASPAY_MAIL_SERVER": "127.0.0.1",
            "GASPAY_MAIL_PORT": "9",
            "GASPAY_RATELIMIT_STORAGE_URI": limits_store,
            "GASPAY_RATELIMIT_KEY_PREFIX": "gaspay-bench-http",
            # Raised so that wrk from one address is never limited (see the notes).
            "GASPAY_LOOKUP_RATE_LIMIT": "10000000 per minute",
            "GASPAY_LOOKUP_TARGET_RATE_LIMIT": "10000000 per minute",
            "GASPAY_LOGIN_RATE_LIMIT": "1000 per minute",
        }
    )
    env.update(secrets_["wompi"])
    # Every approval writes its webhook to the outbox beside its receipt e-mail (no worker runs
    # during the benchmark, so nothing is delivered: the figure is the writes).
    prefix = secrets_["events_tenant"]
    env[f"GASPAY_{prefix}_WEBHOOK_URL"] = "https://facturacion.bench.invalid/gaspay/eventos"
    env[f"GASPAY_{prefix}_WEBHOOK_SECRET"] = secrets_["webhook_secret"]
    env.pop("FLASK_DEBUG", None)
    return env


def make_secrets(prefixes: list[str], events_tenant: str) -> dict:
    wompi = {}
    for prefix in prefixes:
        tag = secrets.token_hex(8)
        wompi[f"GASPAY_{prefix}_WOMPI_PUBLIC_KEY"] = f"pub_prod_bench{tag}"
        wompi[f"GASPAY_{prefix}_WOMPI_PRIVATE_KEY"] = f"prv_prod_bench{secrets.token_hex(12)}"
        wompi[f"GASPAY_{prefix}_WOMPI_INTEGRITY_SECRET"] = f"prod_integrity_{secrets.token_hex(12)}"
        wompi[f"GASPAY_{prefix}_WOMPI_EVENTS_SECRET"] = f"prod_events_{secrets.token_hex(12)}"
        # A tenant on PlacetoPay (the demo's Gasnova) must start in production too.
        wompi[f"GASPAY_{prefix}_PLACETOPAY_LOGIN"] = f"bench{secrets.token_hex(8)}"
        wompi[f"GASPAY_{prefix}_PLACETOPAY_SECRET_KEY"] = secrets.token_hex(16)
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    secret_key = secrets.token_urlsafe(36)  # 48 characters
    return {
        "secret_key": secret_key,
        "wompi": wompi,
        "webhook_secret": webhook_secret,
        "events_tenant": events_tenant,
    }


def start_server(server: Server, workdir: Path, workers: int, threads: int) -> None:
    server.port = free_port()
    server.log_path = workdir / f"gunicorn-{server.name}.log"
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--bind",
        f"127.0.0.1:{server.port}",
        "--chdir",
        str(ROOT),
        "--pythonpath",
        str(ROOT / "bench"),
        "--log-level",
        "warning",
        "--graceful-timeout",
        "5",
        "_wsgi:app",
    ]
    fh = server.log_path.open("w")
    server.proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=server.env,
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    fh.close()
    deadline = time.monotonic() + 60
    import requests

    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"gunicorn {server.name} exited:\n{tail(server.log_path)}")
        try:
            if requests.get(server.base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn {server.name} not ready:\n{tail(server.log_path)}")


def stop_server(server: Server) -> None:
    proc = server.proc
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # the master we started; it stops its own workers
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def teardown(setups: dict, admin_url: str, notes: list[str]) -> None:
    """Stop every server (noting ERROR lines in its log) and drop the PostgreSQL databases."""
    for setup in setups.values():
        for server in (setup.small, setup.large, setup.events):
            stop_server(server)
            log_tail = tail(server.log_path, 400)
            errors = [ln for ln in log_tail.splitlines() if " ERROR " in ln]
            if errors:
                notes.append(f"{server.name}: {len(errors)} ERROR lines in its log")
    for setup in setups.values():
        if setup.pg_databases:
            with contextlib.suppress(Exception):
                pg_admin(admin_url, *drop_database_statements(setup.pg_databases))
