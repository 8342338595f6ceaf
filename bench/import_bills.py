"""Benchmark of the bill importer: N generated bills on SQLite and PostgreSQL, side by side.

    python bench/import_bills.py [--rows 1000000] [--engines sqlite,postgresql]
                                 [--pg-url postgresql://postgres@127.0.0.1:5432/test]
                                 [--out bench/out/import.json] [--check]

One CSV of generated bills (fixed seed, written as a stream: never a list of rows in memory) is
imported on every engine, each import in its own child process so that its peak memory
(``ru_maxrss``) is its own. Each child migrates a fresh database with the project's Alembic
migrations, imports the file with ``import_bills`` (validate pass, then a write pass in batches
of ``BATCH`` rows, each its own short transaction, recorded in ``bill_imports``), checks the row
count, then re-imports the same file (the upsert path: every line found unchanged, nothing
rewritten) and times that too. The figures of every engine come from the same run on the same
machine.

PostgreSQL: the benchmark creates (and drops afterwards) the database ``gaspay_bench`` next to
the one named by ``--pg-url``. When PostgreSQL cannot be reached it is skipped with a message;
when it was asked for explicitly with ``--engines`` the run then exits non-zero.

``--check`` exits non-zero when an import misses the targets (60 s and 200 MB peak for 1 M rows).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ENGINES = ("sqlite", "postgresql")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DB = "gaspay_bench"
TENANT = "insesp"
SEED = 20260131
TARGET_SECONDS = 60.0  # for 1,000,000 rows; scaled linearly for other sizes
TARGET_PEAK_MB = 200.0
CHILD_TIMEOUT = 3600

FIRST_NAMES = (
    "José", "María", "Andrés", "Sofía", "Julián", "Camila", "Óscar", "Lucía", "Sebastián",
    "Valentina", "Martín", "Ángela", "Hernán", "Inés", "Ramón", "Mónica", "Jesús", "Verónica",
    "Iván", "Beatriz", "Luz Marina", "Juan Pablo", "Nicolás", "Daniela",
)  # fmt: skip
LAST_NAMES = (
    "Pérez Gómez", "Rodríguez", "Martínez Ruiz", "Hernández", "López", "García Márquez",
    "Muñoz", "Rincón", "Peña", "Ibáñez", "Suárez", "Díaz Ortiz", "Álvarez", "Jiménez",
    "Castaño", "Cañón", "Ospina", "Zúñiga", "Güiza", "Núñez de Balboa",
)  # fmt: skip
CONCEPTS = (
    "Factura del Gas",
    "Financiación acometida",
    "Revisión periódica",
    "Reconexión del servicio",
    "Aviso de cobro aseo",
    "Aviso de cobro acueducto",
)
STATES = ("unpaid",) * 90 + ("paid",) * 4 + ("",) * 3 + ("no pagado", "pagado", "Unpaid")


# --- CSV generation -------------------------------------------------------------------------


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "")


def generate_csv(path: Path, rows: int, seed: int = SEED) -> int:
    """Write ``rows`` valid bills to ``path`` one line at a time; returns the byte size."""
    from gaspay.billing.importer import COLUMNS

    rng = random.Random(seed)
    start = dt.date(2026, 1, 1)
    days = [start + dt.timedelta(days=d) for d in range(400)]
    iso = [d.isoformat() for d in days]
    dmy = [d.strftime("%d/%m/%Y") for d in days]
    emails = {(f, s): f"{_ascii(f)}.{_ascii(s)}" for f in FIRST_NAMES for s in LAST_NAMES}
    domains = ("correo.test", "gmail.test", "hotmail.test", "empresa.com.test")
    clients = max(1, rows * 3 // 4)  # some clients have two bills
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for i in range(1, rows + 1):
            r = rng.random()
            client = rng.randrange(1, clients + 1) + 20_000
            padded = f"{client:07d}"
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            pesos = rng.randrange(5_000, 900_000)
            amount = f"{pesos}.{rng.randrange(1, 100):02d}" if r < 0.15 else str(pesos)
            if r < 0.6:
                vat = "0"
            elif r < 0.8:
                vat = ""
            else:
                vat = str(pesos * 19 // 119)
            issued = rng.randrange(365)
            due = issued + rng.randrange(15, 31)
            writer.writerow(
                (
                    f"FG-{padded}-{i:08d}",
                    padded if r < 0.9 else f"{padded[:3]} {padded[3:]}",
                    f"77{i:010d}" if r < 0.5 else "",
                    CONCEPTS[i % len(CONCEPTS)],
                    first,
                    last,
                    f"{emails[first, last]}{i % 97}@{domains[i % 4]}" if r < 0.7 else "",
                    f"3{rng.randrange(10**9):09d}" if r < 0.6 else f"60{rng.randrange(10**5):05d}",
                    amount,
                    vat,
                    "COP" if r < 0.9 else "",
                    days[issued].strftime("%Y-%m"),
                    "" if r > 0.95 else (iso[issued] if r < 0.85 else dmy[issued]),
                    iso[due] if r < 0.8 else dmy[due],
                    STATES[i % len(STATES)],
                )
            )
    return path.stat().st_size


# --- child: one engine, one process ---------------------------------------------------------


def _status_kib(field: str) -> int | None:
    """A size from /proc/self/status (VmRSS: now, VmHWM: peak since start or last reset)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs 5), so a later VmHWM is one step's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of a process of this machine, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(engine: str, url: str, csv_path: str, result_path: str) -> None:
    """Migrate a fresh database at ``url``, import and re-import ``csv_path``; write JSON."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from gaspay import create_app
    from gaspay.billing import importer
    from gaspay.billing.importer import ImportReport, import_bills
    from gaspay.billing.models import PAID, Bill
    from gaspay.extensions import db

    app = create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "x" * 40, "TESTING": False, "SANDBOX": True}
    )
    result: dict = {"engine": engine}
    with app.app_context():
        upgrade(directory=str(ROOT / "gaspay" / "migrations"))
        db.session.remove()

        def counts() -> tuple[int, int]:
            total = db.session.scalar(select(func.count()).select_from(Bill))
            paid = db.session.scalar(
                select(func.count()).select_from(Bill).where(Bill.state == PAID)
            )
            db.session.commit()
            return total, paid

        def server_cpu() -> dict[int, float]:
            """CPU seconds of this database's PostgreSQL backends (same machine only)."""
            if engine != "postgresql":
                return {}
            pids = db.session.scalars(
                text("select pid from pg_stat_activity where datname = current_database()")
            ).all()
            db.session.commit()
            return {pid: cpu for pid in pids if (cpu := _proc_cpu_seconds(pid)) is not None}

        def timed(label: str) -> ImportReport:
            cpu_before, server_before = _cpu_seconds(), server_cpu()
            reset = _reset_peak()
            started = time.perf_counter()
            report = import_bills(TENANT, csv_path)
            result[f"{label}_seconds"] = time.perf_counter() - started
            result[f"{label}_cpu_seconds"] = _cpu_seconds() - cpu_before
            server_after = server_cpu()
            result[f"{label}_server_cpu_seconds"] = (
                sum(cpu - server_before.get(pid, 0.0) for pid, cpu in server_after.items())
                if server_after
                else None
            )
            result[f"{label}_maxrss_kib"] = _maxrss_kib()
            result[f"{label}_own_peak_kib"] = _status_kib("VmHWM") if reset else None
            return report

        counts()  # the pool's connection is open before the measures start
        result["baseline_rss_kib"] = _status_kib("VmRSS")
        result["baseline_maxrss_kib"] = _maxrss_kib()
        report = timed("import")
        result["rows"], result["written"] = report.rows, report.written
        result["count"], result["paid"] = counts()

        again = timed("reimport")
        result["count_after_reimport"], result["paid_after_reimport"] = counts()
        result["reimport_written"] = again.written
        result["reimport_unchanged"] = again.unchanged
        result["batches"] = report.batches
        result["rows_per_batch"] = importer.BATCH
        result["sqlite_pause_seconds"] = importer.SQLITE_PAUSE_SECONDS if engine == "sqlite" else 0

        if engine == "sqlite":
            result["server_version"] = db.session.scalar(text("select sqlite_version()"))
            result["db_bytes"] = sum(
                p.stat().st_size for p in Path(url.removeprefix("sqlite:///")).parent.iterdir()
            )
        else:
            result["server_version"] = db.session.scalar(text("show server_version"))
            result["db_bytes"] = db.session.scalar(
                text("select pg_database_size(current_database())")
            )
        db.session.remove()
    Path(result_path).write_text(json.dumps(result))


# --- parent ---------------------------------------------------------------------------------


def _pg_urls(pg_url: str) -> tuple[str, str]:
    """(admin URL for psycopg, URL of the bench database for the app)."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_url).set(drivername="postgresql")
    admin = url.render_as_string(hide_password=False)
    bench = url.set(database=BENCH_DB).render_as_string(hide_password=False)
    return admin, bench


def _pg_admin(admin_url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        for statement in statements:
            conn.execute(statement)


def _child(engine: str, url: str, csv_path: Path, workdir: Path) -> dict:
    result_path = workdir / f"result-{engine}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", engine, url]
    command += [str(csv_path), str(result_path)]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=ROOT, check=False
    )
    if proc.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"{engine}: child exited {proc.returncode}\n{proc.stderr[-4000:]}")
    return json.loads(result_path.read_text())


def _summarise(result: dict, rows: int) -> dict:
    mib = 1024
    seconds = result["import_seconds"]
    result["rows_per_second"] = rows / seconds if seconds else None
    result["reimport_rows_per_second"] = rows / result["reimport_seconds"]
    result["baseline_rss_mb"] = result["baseline_rss_kib"] / mib
    result["peak_rss_mb"] = result["import_maxrss_kib"] / mib
    result["peak_rss_reimport_mb"] = result["reimport_maxrss_kib"] / mib
    result["import_cpu_total_seconds"] = result["import_cpu_seconds"] + (
        result["import_server_cpu_seconds"] or 0.0
    )
    own = result["import_own_peak_kib"]
    result["import_own_peak_mb"] = own / mib if own else None
    result["import_growth_mb"] = (own or result["import_maxrss_kib"]) / mib - result[
        "baseline_rss_mb"
    ]
    target_seconds = TARGET_SECONDS * rows / 1_000_000
    result["targets"] = {
        "seconds": target_seconds,
        "peak_rss_mb": TARGET_PEAK_MB,
        "met": seconds <= target_seconds
        and max(result["peak_rss_mb"], result["peak_rss_reimport_mb"]) <= TARGET_PEAK_MB,
    }
    result["verified"] = (
        result["rows"] == rows
        and result["written"] == rows
        and result["count"] == rows
        and result["count_after_reimport"] == rows
        and result["reimport_unchanged"] == rows
        and result["paid_after_reimport"] == result["paid"]
    )
    return result


def _machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = f"{int(line.split()[1]) // 1024} MiB"
                break
    except OSError:
        pass
    import sqlalchemy

    try:
        import psycopg

        psycopg_version = psycopg.__version__
    except ImportError:  # pragma: no cover
        psycopg_version = None
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total": mem_total,
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg_version,
    }


def _git() -> dict:
    def out(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            return ""

    dirty = out("status", "--porcelain", "--", "gaspay")
    return {"commit": out("rev-parse", "HEAD"), "gaspay_dirty": bool(dirty)}


def _table(results: list[dict], rows: int) -> str:
    head = (
        "engine",
        "rows",
        "seconds",
        "rows/s",
        "peak RSS MB",
        "baseline MB",
        "import peak MB",
        "re-import s",
        "CPU s",
        "load",
    )
    lines = [head]
    for r in results:
        lines.append(
            (
                r["engine"],
                f"{rows:,}",
                f"{r['import_seconds']:.1f}",
                f"{r['rows_per_second']:,.0f}",
                f"{max(r['peak_rss_mb'], r['peak_rss_reimport_mb']):.0f}",
                f"{r['baseline_rss_mb']:.0f}",
                f"{r['import_own_peak_mb']:.0f}" if r["import_own_peak_mb"] else "?",
                f"{r['reimport_seconds']:.1f}",
                f"{r['import_cpu_total_seconds']:.1f}",
                f"{r['loadavg_before'][0]:.1f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        run_child(*argv[1:5])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default=None, help="comma separated: sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--out", default=None, help="JSON file (default bench/out/import.json)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    explicit = args.engines is not None
    engines = [e.strip() for e in (args.engines or ",".join(ENGINES)).split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines or args.rows < 1:
        parser.error(f"--engines takes {','.join(ENGINES)}; --rows must be positive")
    out = Path(args.out) if args.out else ROOT / "bench" / "out" / "import.json"
    command = shlex.join(["python", "bench/import_bills.py", *argv])

    machine = _machine()
    status = 0
    results: list[dict] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gaspay-bench-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "bills.csv"
        started = time.perf_counter()
        size = generate_csv(csv_path, args.rows, args.seed)
        gen_seconds = time.perf_counter() - started
        print(
            f"generated {args.rows:,} bills ({size / 2**20:.0f} MiB CSV, seed {args.seed}) "
            f"in {gen_seconds:.1f} s",
            flush=True,
        )
        for engine in engines:
            pg_admin = None
            try:
                if engine == "sqlite":
                    url = f"sqlite:///{workdir / 'sqlite' / 'gaspay-bench.sqlite3'}"
                    (workdir / "sqlite").mkdir()
                else:
                    pg_admin, url = _pg_urls(args.pg_url)
                    try:
                        _pg_admin(
                            pg_admin,
                            f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)",
                            f"CREATE DATABASE {BENCH_DB}",
                        )
                    except Exception as exc:
                        pg_admin = None
                        reason = f"PostgreSQL unreachable at {args.pg_url}: {exc}".strip()
                        skipped[engine] = reason
                        print(f"SKIPPED postgresql: {reason}", file=sys.stderr, flush=True)
                        if explicit:
                            status = 1
                        continue
                print(f"{engine}: importing {args.rows:,} bills ...", flush=True)
                load = os.getloadavg()
                result = _summarise(_child(engine, url, csv_path, workdir), args.rows)
                result["loadavg_before"], result["loadavg_after"] = load, os.getloadavg()
                results.append(result)
                print(
                    f"{engine}: {result['import_seconds']:.1f} s, "
                    f"{result['rows_per_second']:,.0f} rows/s, "
                    f"peak {result['peak_rss_mb']:.0f} MB, "
                    f"re-import {result['reimport_seconds']:.1f} s",
                    flush=True,
                )
                if not result["verified"]:
                    print(f"{engine}: row counts do not match: {result}", file=sys.stderr)
                    status = 1
                if args.check and not result["targets"]["met"]:
                    status = 1
            except Exception as exc:
                print(f"FAILED {engine}: {exc}", file=sys.stderr, flush=True)
                skipped[engine] = f"failed: {str(exc).splitlines()[0]}"
                status = 1
            finally:
                if pg_admin:
                    try:
                        _pg_admin(pg_admin, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
                    except Exception as exc:
                        print(f"could not drop {BENCH_DB}: {exc}", file=sys.stderr)

    print()
    if results:
        print(_table(results, args.rows))
    by_engine = {r["engine"]: r for r in results}
    ratio = None
    if "sqlite" in by_engine and "postgresql" in by_engine:
        ratio = by_engine["postgresql"]["rows_per_second"] / by_engine["sqlite"]["rows_per_second"]
        print(f"\nrows/s postgresql/sqlite: {ratio:.2f}")
    target = TARGET_SECONDS * args.rows / 1_000_000
    for r in results:
        verdict = "met" if r["targets"]["met"] else "MISSED"
        print(f"target ({target:.0f} s, {TARGET_PEAK_MB:.0f} MB) on {r['engine']}: {verdict}")
    for engine, reason in skipped.items():
        print(f"{engine}: {reason}")
    print(
        "\npeak RSS = ru_maxrss of the child process (app, migrations, import and re-import); "
        "baseline = its RSS right before the import; import peak = its peak RSS during the "
        "import alone (VmHWM reset just before). MB = MiB.\n"
        "CPU s = CPU time of the import in the child, plus the PostgreSQL backend's; "
        "load = 1-minute load average when the engine's run started (this machine has "
        f"{os.cpu_count()} CPUs)."
    )

    report = {
        "command": command,
        "argv": [sys.executable, *sys.argv],
        "cwd": os.getcwd(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "seed": args.seed,
        "csv_bytes": size,
        "csv_generation_seconds": gen_seconds,
        "machine": machine,
        "git": _git(),
        "results": results,
        "ratio_rows_per_second_postgresql_over_sqlite": ratio,
        "skipped": skipped,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
