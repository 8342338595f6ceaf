"""The direction of the arrows, read from the source with ``ast`` (one test per rule)."""

from __future__ import annotations

import ast
from pathlib import Path

import gaspay

PACKAGE = Path(gaspay.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute, wherever the import sits (top level or inside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[: -node.level]
                base = ".".join(parts + ((node.module,) if node.module else ()))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules_of(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


def test_payments_imports_no_gateway_package():
    """``gaspay/payments`` knows gateways only through ``gaspay.payments.gateway``."""
    assert modules_of("payments"), "no modules found"
    offenders = [
        (str(path.relative_to(PACKAGE)), module)
        for path in modules_of("payments")
        for module in imported_modules(path)
        if module == "gaspay.gateways" or module.startswith("gaspay.gateways.")
    ]
    assert offenders == []
