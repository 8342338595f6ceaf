"""Bill import, SQLite and PostgreSQL side by side -> bench/out/import.json (bench/README.md)."""

import csv
import datetime as dt
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import common
from common import CONCEPTS, FIRST_NAMES, LAST_NAMES, log
from sqlalchemy import func, select

from gaspay.billing.importer import COLUMNS, import_bills
from gaspay.billing.models import Bill
from gaspay.extensions import db

STATES = ("unpaid",) * 90 + ("paid",) * 4 + ("",) * 3 + ("no pagado", "pagado", "Unpaid")


def generate_csv(path: Path, rows: int, seed: int = 20260131) -> int:
    """Valid bills: padded and spaced client numbers, accents, cents, VAT, both date forms."""
    rng, days = random.Random(seed), [dt.date(2026, 1, 1) + dt.timedelta(d) for d in range(400)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        (out := csv.writer(fh)).writerow(COLUMNS)
        for i in range(1, rows + 1):
            r, pesos, issued = rng.random(), rng.randrange(5_000, 900_000), rng.randrange(365)
            client, due = f"{rng.randrange(rows * 3 // 4 + 2) + 20_000:07d}", days[issued + 20]
            out.writerow((
                f"FG-{client}-{i:08d}", client if r < 0.9 else f"{client[:3]} {client[3:]}",
                f"77{i:010d}" if r < 0.5 else "", CONCEPTS[i % 4], rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES), f"cliente{i}@correo.test" if r < 0.7 else "",
                f"3{rng.randrange(10**9):09d}", f"{pesos}.{i % 90 + 10}" if r < 0.15 else pesos,
                "0" if r < 0.6 else "" if r < 0.8 else pesos * 19 // 119, "COP" if r < 0.9 else "",
                f"{days[issued]:%Y-%m}", "" if r > 0.95 else days[issued].isoformat(),
                due.isoformat() if r < 0.8 else f"{due:%d/%m/%Y}", STATES[i % 100]))  # fmt: skip
    return path.stat().st_size


def child(url: str, csv_path: str) -> dict:
    """In a child process (common.child): migrate, import, count, re-import, count."""
    common.migrate(url)
    count = select(func.count()).select_from(Bill)
    with common.app_for(url).app_context():
        db.session.scalar(count)  # connected before the clock starts
        db.session.commit()
        out = {"baseline_mb": common.mb("VmRSS")}
        for label in ("import", "reimport"):
            common.reset_peak()
            cpu, started = time.process_time(), time.perf_counter()
            report = import_bills("insesp", csv_path)
            out[f"{label}_s"] = time.perf_counter() - started
            out[f"{label}_cpu_s"] = time.process_time() - cpu
            out[f"{label}_peak_mb"] = common.mb("VmHWM")
            out[f"{label}_counts"] = [report.written, report.unchanged, db.session.scalar(count)]
            db.session.commit()
        out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str]) -> int:
    args = common.options(__doc__, argv, rows=1_000_000, engines="sqlite,postgresql", check=False)
    n, started, load, results = args.rows, time.monotonic(), common.machine()["load"], []
    with tempfile.TemporaryDirectory(prefix="hb-import-") as tmp:
        size = generate_csv(path := Path(tmp) / "bills.csv", n)
        log(f"{n:,} bills, {size / 2**20:.0f} MiB CSV, {time.monotonic() - started:.0f} s")
        for engine in args.engines.split(","):
            pg = engine == "postgresql"
            try:
                url = common.pg_create("hb_import")[0] if pg else f"sqlite:///{tmp}/i.sqlite3"
                r = {"engine": engine} | common.child("import_bills", "child", url, str(path))
            except Exception as exc:
                results.append({"engine": engine, "error": str(exc).strip().splitlines()[-1]})
                log(f"{engine}: FAILED {exc}")
                continue
            finally:
                common.pg_drop("hb_import") if pg else None
            r["rows_s"] = n / r["import_s"]
            r["peak_mb"] = max(r["maxrss_mb"], r["import_peak_mb"], r["reimport_peak_mb"])
            r["verified"] = r["import_counts"] == [n, 0, n] and r["reimport_counts"] == [0, n, n]
            r["met"] = r["import_s"] <= 60 * n / 1e6 and r["peak_mb"] <= 200
            results.append(r)
            took = f"{r['import_s']:.1f} s, {r['rows_s']:,.0f} rows/s, peak {r['peak_mb']:.0f} MB"
            log(f"{engine}: {took}, re-import {r['reimport_s']:.1f} s, ok {r['verified']}")
    data = {"rows": n, "csv_mib": size / 2**20, "load_start": load, "results": results}
    common.save("import", data, started, argv)
    return any("error" in r or not r["verified"] or (args.check and not r["met"]) for r in results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
