"""py-spy profiles of the gunicorn workers under load, summarised for docs/BENCHMARKS.md.

``py-spy record --subprocesses --gil --format raw`` samples, in every worker, the thread that
holds the GIL: where the workers' Python CPU time goes. (On a machine where the server, the
database, Redis and the load generator share few CPUs, threads woken from a socket wait often
queue for a CPU; sampling "non-idle" threads would charge that queueing to the socket wait.)
Only samples inside request handling (a ``wsgi_app`` frame) are kept. Waits for PostgreSQL or
Redis, and their own CPU, are not in a profile: the benchmark measures those per request.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*)\)$")
PACKAGES = (
    ("psycopg", "PostgreSQL driver (psycopg): round trips and waits"),
    ("sqlalchemy", "SQLAlchemy (ORM, Core, pool)"),
    ("sqlite3", "SQLite driver"),
    ("jinja2", "Jinja2 runtime"),
    (".html", "templates (compiled Jinja code)"),
    ("flask_limiter", "rate limiter (Flask-Limiter)"),
    ("limits", "rate limiter storage (limits)"),
    ("redis", "Redis client"),
    ("flask_wtf", "CSRF and forms (Flask-WTF)"),
    ("wtforms", "CSRF and forms (WTForms)"),
    ("itsdangerous", "signing (itsdangerous: session, CSRF, bill tokens)"),
    ("flask_login", "Flask-Login"),
    ("flask_compress", "compression (Flask-Compress)"),
    ("brotli", "compression (Brotli)"),
    ("gzip", "compression (gzip)"),
    ("babel", "Babel (money and date formats)"),
    ("flask/", "Flask"),
    ("werkzeug", "Werkzeug"),
    ("gunicorn", "gunicorn"),
    ("logging", "logging"),
    ("json", "json"),
    ("gaspay/", "gaspay (the app's own code)"),
)


# Library entry points worth naming in a summary (substring of "func (file)" -> label).
FOCUS = (
    ("render_template (flask/templating.py)", "templates (render_template)"),
    ("(limits/storage/", "rate-limit storage calls (Redis round trips)"),
    ("Limiter._check_request_limit", "rate limiter checks"),
    ("Compress.after_request", "response compression (Flask-Compress)"),
    ("SecureCookieSessionInterface.open_session", "session cookie: open"),
    ("SecureCookieSessionInterface.save_session", "session cookie: save"),
    ("_load_user (flask_login", "Flask-Login: load the customer"),
    ("CSRFProtect.protect", "CSRF check (Flask-WTF)"),
    ("_PostLoad.invoke", "relationship loads after a query (selectin)"),
    ("Session.commit (sqlalchemy", "commits"),
    ("_ConnectionFairy._checkout", "pool checkout (includes pre-ping)"),
    ("set_security_headers (gaspay/web/security.py)", "security headers"),
)


def available() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, out: Path, rate: int = 100) -> subprocess.Popen:
    command = [
        available() or "py-spy",
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--gil",
        "--nolineno",
        "--rate",
        str(rate),
        "--duration",
        str(max(1, round(seconds))),
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for raw in stack.split(";"):
        match = FRAME_RE.match(raw.strip())
        if match:
            frames.append((match["func"], match["file"]))
    return frames


def _package(file: str) -> str:
    path = file.replace("\\", "/")
    for needle, label in PACKAGES:
        if needle in path:
            return label
    return "other (stdlib, C calls)"


def _short(func: str, file: str) -> str:
    path = file.replace("\\", "/")
    for marker in ("site-packages/", "/gaspay/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/gaspay/":
                path = "gaspay/" + path
            break
    return f"{func} ({path})"


def summarise(raw_file: Path, top: int = 18) -> dict:
    """Shares of in-request samples: self time by package, inclusive time by function."""
    samples = 0
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    try:
        lines = raw_file.read_text(errors="replace").splitlines()
    except OSError:
        return {"samples": 0}
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = _frames(stack)
        if not any(f.endswith("wsgi_app") and "flask/app" in p for f, p in frames):
            continue  # an idle thread, the arbiter, a poller: not request handling
        n = int(count)
        samples += n
        leaf_func, leaf_file = frames[-1]
        by_package[_package(leaf_file)] += n
        self_time[_short(leaf_func, leaf_file)] += n
        for name in {_short(f, p) for f, p in frames}:
            inclusive[name] += n
    if not samples:
        return {"samples": 0}

    def shares(counter: Counter[str], limit: int, floor: float = 0.0) -> list[tuple[str, float]]:
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))  # stable across runs
        return [(k, v / samples) for k, v in ranked if v / samples >= floor][:limit]

    focus = {}
    for name, count in inclusive.items():
        share = count / samples
        if any(key in name for key, _ in FOCUS) and share >= 0.01:
            label = next(label for key, label in FOCUS if key in name)
            focus[label] = max(focus.get(label, 0.0), share)
        elif name.endswith(")") and "(gaspay/" in name and share >= 0.03:
            focus[name] = share
    interesting = Counter(
        {k: v for k, v in inclusive.items() if v / samples < 0.97 and "threading" not in k}
    )
    return {
        "samples": samples,
        "by_package": shares(by_package, 12, 0.005),
        "inclusive": shares(interesting, top, 0.02),
        "self": shares(self_time, 10, 0.01),
        "focus": sorted(focus.items(), key=lambda kv: -kv[1]),
    }
