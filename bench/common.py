"""What the benchmarks share: the machine, databases, child processes, gunicorn, JSON out."""

import argparse
import contextlib
import functools
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import import_module, metadata
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from gaspay import create_app

ROOT, OUT = Path(__file__).resolve().parent.parent, Path(__file__).resolve().with_name("out")
sys.path[:0] = [p for p in (str(ROOT), str(ROOT / "bench")) if p not in sys.path]
PG_ADMIN = os.environ.get("GASPAY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("GASPAY_", "FLASK_"))}
FIRST_NAMES = ("José", "María", "Andrés", "Sofía", "Julián", "Camila", "Óscar", "Lucía",
               "Sebastián", "Valentina", "Martín", "Ángela", "Hernán", "Inés", "Ramón")  # fmt: skip
LAST_NAMES = ("Pérez Gómez", "Rodríguez", "Martínez Ruiz", "Hernández", "López", "Muñoz",
              "García Márquez", "Rincón", "Peña", "Ibáñez", "Suárez", "Zúñiga")  # fmt: skip
CONCEPTS = ("Factura del Gas", "Financiación acometida", "Revisión periódica", "Reconexión")
log = functools.partial(print, flush=True)


def machine() -> dict:
    info = Path("/proc/cpuinfo").read_text() + Path("/proc/meminfo").read_text()
    pairs = (ln.split(":", 1) for ln in info.splitlines()[::-1] if ":" in ln)
    field = {k.strip(): v for k, v in pairs}
    versions = {n: metadata.version(n) for n in ("flask", "sqlalchemy", "psycopg", "gunicorn")}
    return {"cpu": field["model name"].strip(), "cores": len(os.sched_getaffinity(0)),
            "ram_gib": round(int(field["MemTotal"].split()[0]) / 2**20, 1),
            "load": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "versions": versions}  # fmt: skip


def options(doc: str, argv: list[str], **defaults) -> argparse.Namespace:
    """argv parsed: --name VALUE for each default, of its type (a bool's: --name, --no-name)."""
    parser = argparse.ArgumentParser(description=doc)
    for name, default in defaults.items():
        flag, action = "--" + name.replace("_", "-"), argparse.BooleanOptionalAction
        how = {"action": action} if isinstance(default, bool) else {"type": type(default)}
        parser.add_argument(flag, default=default, help="%(default)s", **how)
    return parser.parse_args(argv)


def pg(*statements: str, url: str = PG_ADMIN, autocommit: bool = True) -> list[tuple]:
    """Statements through psycopg alone, in one transaction unless autocommit; the last's rows."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=autocommit, connect_timeout=5) as conn:
        for statement in statements:
            cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def pg_create(*names: str) -> list[str]:  # fresh databases (dropped first): their SQLAlchemy URLs
    pg_drop(*names)
    pg(*(f"CREATE DATABASE {n}" for n in names))
    url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg")
    return [url.set(database=n).render_as_string(hide_password=False) for n in names]


def pg_drop(*names: str) -> None:
    pg(*(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names))


def app_for(url: str):
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "b" * 40, "SANDBOX": True})


def migrate(url: str) -> None:  # Alembic loaded here only: not in an export child's RSS
    with (app := app_for(url)).app_context():
        import_module("flask_migrate").upgrade(directory=str(ROOT / "gaspay" / "migrations"))
        app.extensions["sqlalchemy"].session.remove()
        app.extensions["sqlalchemy"].engine.dispose()


def mb(field: str) -> float:
    """This process's VmRSS (now) or VmHWM (its peak since start or reset_peak), in MB."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return int(next(ln for ln in lines if ln.startswith(field + ":")).split()[1]) / 1024


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux)


def child(module: str, function: str, *args: str) -> dict:
    """``module.function(*args)`` in a new Python (its peak RSS its own): the dict it returns."""
    command = [sys.executable, __file__, module, function, *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:].strip() or f"exit status {done.returncode}")
    return json.loads(done.stdout.splitlines()[-1])


def gunicorn(env: dict, log: Path, ready: str, *flags: str) -> tuple[subprocess.Popen, str]:
    """gunicorn on a free port (env's PORT), its output in ``log``: once ``ready`` answers 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        env["PORT"] = str(port := s.getsockname()[1])
    with log.open("w") as fh:
        command = [Path(sys.executable).parent / "gunicorn", "-b", f"127.0.0.1:{port}", *flags]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", ready)
            if conn.getresponse().status == 200:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.3)
    stop(proc)
    raise RuntimeError(f"gunicorn ({log.name}) not up: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # the master stops its own workers
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    proc.kill()  # nothing once it has exited


def save(name: str, data: dict, started: float, argv: list[str]) -> None:
    """bench/out/<name>.json with the machine, commit, command and wall time; then the report."""
    git = functools.partial(subprocess.run, cwd=ROOT, capture_output=True, text=True)
    dirty = git(["git", "status", "--porcelain", "--", "gaspay", "wsgi.py", "bench"]).stdout.strip()
    commit = git(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
    command = " ".join(["python", sys.argv[0].removeprefix(str(ROOT) + "/"), *argv])
    end = {"finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": command}
    end |= {"machine": machine(), "commit": commit + " (uncommitted changes)" * bool(dirty)}
    end["wall_s"] = time.monotonic() - started
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data | end, indent=1, default=str) + "\n")
    import_module("report").main(["--quick"] if name.endswith("-quick") else [])  # imports common


if __name__ == "__main__":  # child()'s other end
    print(json.dumps(getattr(import_module(sys.argv[1]), sys.argv[2])(*sys.argv[3:])))
