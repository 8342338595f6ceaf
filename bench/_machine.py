"""The machine, the commit and the database versions a run measured, for the report."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import _data
from _common import ROOT


def machine() -> dict:
    def first(path: str, prefix: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return ""

    mem = first("/proc/meminfo", "MemTotal")
    mem_gib = f"{int(mem.split()[0]) / 2**20:.1f} GiB" if mem else "?"
    versions = {}
    for module in ("flask", "sqlalchemy", "gunicorn", "psycopg", "werkzeug"):
        try:
            versions[module] = metadata.version(module)
        except metadata.PackageNotFoundError:
            versions[module] = "?"
    wrk_version = ""
    with contextlib.suppress(OSError):
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        wrk_version = (out.stdout or out.stderr).splitlines()[0].split(" [")[0]
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": first("/proc/cpuinfo", "model name") or platform.processor(),
        "ram": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
        "wrk": wrk_version,
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "gaspay", "wsgi.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "?"
    return out.stdout.strip() + (" (gaspay/ with uncommitted changes)" if dirty else "")


def engine_versions(setups: dict) -> dict:
    import sqlite3

    out = {"sqlite_version": sqlite3.sqlite_version, "pg_version": None}
    if "postgresql" in setups:
        import psycopg

        url = _data._plain_pg(setups["postgresql"].small.db_url)
        with psycopg.connect(url) as conn:
            out["pg_version"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    return out
