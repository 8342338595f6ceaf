"""Figures of the outbox's fault tests, for docs/RELIABILITY.md
(``test-artifacts/outbox-faults.json``, one entry per test and database engine)."""

from __future__ import annotations

import json
import os
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "outbox-faults.json"


def record_figures(name: str, **values) -> None:
    engine = "postgresql" if os.environ.get("GASPAY_TEST_DATABASE_URL") else "sqlite"
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    try:
        figures = json.loads(ARTIFACT.read_text())
    except (OSError, ValueError):
        figures = {}
    figures[f"{name} [{engine}]"] = values
    ARTIFACT.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
