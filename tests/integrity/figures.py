"""The figures of one run of the integrity suites, written to test-artifacts/ at session end."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
_lock = threading.Lock()
FIGURES: dict = {"races": {}, "faults": {}, "promises": {}}
DURATIONS: dict[str, float] = {}


def record_race(name: str, values: dict) -> None:
    with _lock:
        FIGURES["races"][name] = values


def record_fault(case: str, values: dict) -> None:
    with _lock:
        FIGURES["faults"][case] = values


def record_promise(name: str, values: dict) -> None:
    with _lock:
        FIGURES["promises"][name] = values


_skipped: set[str] = set()


def add_duration(nodeid: str, seconds: float, skipped: bool = False) -> None:
    if "tests/integrity/" not in nodeid:
        return
    if skipped:
        _skipped.add(nodeid)
    if nodeid in _skipped:
        return
    suite = "races" if "test_races" in nodeid or "test_p2p_races" in nodeid else "faults"
    with _lock:
        DURATIONS[suite] = DURATIONS.get(suite, 0.0) + seconds


def _totals(cases: dict) -> dict:
    keys = ("attempts", "gateway_transactions", "lost", "doubled", "resolved", "wrong")
    totals = {k: sum(c.get(k, 0) for c in cases.values()) for k in keys}
    totals["cases"] = len(cases)
    totals["unresolved"] = sum(c.get("unresolved", 0) for c in cases.values())
    seen = [c["db_transactions"] for c in cases.values() if c.get("db_transactions")]
    if seen:
        inside: Counter[str] = Counter()
        for item in seen:
            inside.update(item["inside_db_transaction"])
        totals["gateway_calls"] = sum(item["gateway_calls"] for item in seen)
        totals["gateway_calls_inside_db_transaction"] = dict(inside)
    return totals


def command(invocation_args: tuple[str, ...]) -> str:
    env = ""
    if os.environ.get("GASPAY_TEST_DATABASE_URL"):
        env = f"GASPAY_TEST_DATABASE_URL={shlex.quote(os.environ['GASPAY_TEST_DATABASE_URL'])} "
    exe = sys.argv[0] if sys.argv and sys.argv[0] else "pytest"
    if os.path.isabs(exe) and exe.startswith(str(ROOT)):
        exe = os.path.relpath(exe, ROOT)
    return f"cd {ROOT} && {env}{shlex.join([exe, *invocation_args])}"


def document(engine: str, servers: int, invocation_args: tuple[str, ...], exitstatus) -> dict:
    faults = FIGURES["faults"]
    return {
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command(invocation_args),
        "exit_status": int(exitstatus),
        "database": engine,
        "app_servers": servers,
        "cpus": os.cpu_count(),
        "seconds": {k: round(v, 1) for k, v in DURATIONS.items()},
        "races": FIGURES["races"],
        "faults": {"totals": _totals(faults), "cases": faults} if faults else {},
        "promises": FIGURES["promises"],
    }


def has_figures() -> bool:
    return any(FIGURES.values())


def write(doc: dict) -> list[Path]:
    ARTIFACTS.mkdir(exist_ok=True)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    paths = [ARTIFACTS / "integrity.json", ARTIFACTS / f"integrity-{doc['database']}.json"]
    for path in paths:
        path.write_text(text, encoding="utf-8")
    return paths


def summary_lines(doc: dict) -> list[str]:
    lines = [
        f"command: {doc['command']}",
        f"database: {doc['database']}, servers: {doc['app_servers']}, seconds: {doc['seconds']}",
    ]
    for name, values in doc["races"].items():
        lines.append(f"race {name}: {json.dumps(values, ensure_ascii=False)}")
    for name, values in doc["promises"].items():
        lines.append(f"promise {name}: {json.dumps(values, ensure_ascii=False)}")
    if doc["faults"]:
        t = doc["faults"]["totals"]
        lines.append(
            f"faults: {t['cases']} cases, attempts made {t['attempts']}, gateway transactions "
            f"{t['gateway_transactions']}, lost {t['lost']}, doubled {t['doubled']}, resolved "
            f"{t['resolved']}, unresolved {t['unresolved']}, wrong final state {t['wrong']}"
        )
        cases = doc["faults"]["cases"]
        p2p = {k: v for k, v in cases.items() if k.startswith("placetopay/")}
        if p2p:
            t = _totals(p2p)
            lines.append(
                f"faults (placetopay of these): {t['cases']} cases, attempts made "
                f"{t['attempts']}, sessions {t['gateway_transactions']}, lost {t['lost']}, "
                f"doubled {t['doubled']}, resolved {t['resolved']}, unresolved "
                f"{t['unresolved']}, wrong final state {t['wrong']}"
            )
        if "gateway_calls" in t:
            lines.append(
                f"faults: gateway calls {t['gateway_calls']}, made inside an open database "
                f"transaction: {t['gateway_calls_inside_db_transaction']}"
            )
    return lines
