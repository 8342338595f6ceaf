"""Staff area at 1 M payments: the payments list, its filters and the search; 100 k exports.

    python bench/staff_bench.py [--rows 1000000] [--reps 30] [--export-payments 100000] [--keep]
                                [--check]

Database: GASPAY_BENCH_DATABASE_URL (default ``DEFAULT_URL``; created when missing, its public
schema dropped and rebuilt with the project's migrations, emptied again at the end unless
``--keep``). It is filled set-wise (``INSERT … SELECT … generate_series``): payments over 90 days,
half on each tenant, each client paying about monthly, one bill per payment and a second one on
every tenth, then VACUUM ANALYZE. Each list case calls ``gaspay.staff.payments.list_payments``
(the page and the totals, as the staff page does) in an app context, alone: 3 warm-ups, then
``--reps`` timed calls; every search call looks for another payment. Each export
(``gaspay.staff.exports.build``) runs in a child process of its own, streamed to a byte counter.
The results replace the section ``HEADING`` of docs/BENCHMARKS.md (the rest is left as it is).
``--check`` exits 1 when a target is missed (p50 ≤ 30 ms per case, export peak RSS ≤ 100 MB).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
import _data  # noqa: E402
import _machine  # noqa: E402
from _common import ROOT  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gaspay_bench_staff"
TENANT = "interservicios"  # the measured tenant (Wompi: PSE and cards); the other is insesp
HEADING = "## Staff area at 1 M payments"
# A whole month of one tenant's payments with their totals (~167 k rows at 1 M): an index-only
# scan whose cost follows the rows in the range, not the table's size; reported, no target.
RANGE_CASE = "range: last 30 days, with totals (page 1)"
TARGET_MS, TARGET_MB, WARMUP = 30.0, 100.0, 3
BANKS = [("1007", "Bancolombia")] * 6 + [("1051", "Banco Davivienda")] * 3 + [
    ("1001", "Banco de Bogotá"), ("1507", "Nequi"), ("1013", "BBVA Colombia"),
    ("1023", "Banco de Occidente"), ("1002", "Banco Popular"), ("1032", "Banco Caja Social"),
    ("1019", "Scotiabank Colpatria"), ("1052", "Banco AV Villas"), ("1062", "Banco Falabella"),
]  # fmt: skip


def arr(values) -> str:
    return "(ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "])"


def amount(x: str) -> str:  # a bill's amount from its id: $ 15.000 to $ 350.000 in 100-peso steps
    return f"(1500000 + (({x})::bigint * 7919 % 3351) * 10000)"


def fill_sql(n: int) -> list[str]:
    k = n // 3 // 2 * 2  # clients (each pays about monthly); even, so a client keeps its tenant
    name = f"{arr(_data.FIRST_NAMES)}[1 + c % {len(_data.FIRST_NAMES)}] || ' ' || "
    name += f"{arr(_data.LAST_NAMES)}[1 + c / {len(_data.FIRST_NAMES)} % {len(_data.LAST_NAMES)}]"
    attempts = f"""INSERT INTO payment_attempts (id, tenant, reference, gateway, provider,
      gateway_txn_id, gateway_status, cus, payment_method, bank_code, bank_name, document_type,
      document_number, payer_name, payer_email, description, amount_cents, currency, status,
      created_at, updated_at, finalized_at, checks, payer_email_source)
    SELECT i, t, 'GP' || upper(substr(md5(i::text), 1, 10)),
      CASE t WHEN 'insesp' THEN 'pse' ELSE 'wompi' END, 'wompi',
      (10000 + i % 90000) || '-' || extract(epoch FROM created)::bigint || '-' || i,
      upper(CASE status WHEN 'failed' THEN 'error' WHEN 'expired' THEN NULL ELSE status END),
      CASE WHEN method = 'PSE' THEN (3300000000 + i * 7)::text END, method,
      CASE WHEN method = 'PSE' THEN {arr(b[0] for b in BANKS)}[bank] END,
      CASE WHEN method = 'PSE' THEN {arr(b[1] for b in BANKS)}[bank] END,
      CASE WHEN c % 23 = 0 THEN 'NIT' WHEN c % 31 = 0 THEN 'CE' ELSE 'CC' END,
      (10000000 + c * 37)::text, name, translate(lower(name), 'áéíóúñü ', 'aeiounu') || c % 1000
        || '@' || (ARRAY['gmail.com', 'hotmail.com', 'outlook.es', 'yahoo.es'])[1 + c % 4],
      'Factura ' || lpad((20000 + c)::text, 7, '0'),
      {amount("i")} + CASE WHEN i % 10 = 0 THEN {amount(f"{n} + i / 10")} ELSE 0 END, 'COP',
      status, created, coalesce(final, created), final, 0, 'payer'
    FROM (SELECT *, {name} AS name,
            CASE WHEN t = 'insesp' OR m < 0.6 THEN 'PSE' ELSE 'CARD' END AS method,
            CASE WHEN status <> 'pending' THEN created + (30 + i % 600) * interval '1 s' END
              AS final
          FROM (SELECT i, i % {k} AS c, CASE WHEN i % {k} % 2 = 0 THEN '{TENANT}' ELSE 'insesp'
                  END AS t, random() AS m, 1 + floor(random() * {len(BANKS)})::int AS bank,
                  CASE WHEN r < 0.86 THEN 'approved' WHEN r < 0.94 THEN 'declined' WHEN r < 0.97
                    THEN 'pending' WHEN r < 0.99 THEN 'failed' ELSE 'expired' END AS status,
                  now() - interval '90 days' * (1 - i::float / {n}) + random() * interval '2 min'
                    AS created
                FROM (SELECT i, random() AS r FROM generate_series(1, {n}) AS i) s0) s1) s2"""
    each = f"""(SELECT b, CASE WHEN b <= {n} THEN b ELSE (b - {n}) * 10 END AS i
      FROM generate_series(1, {n} + {n} / 10) AS b) s"""  # bill b is paid by attempt i
    bills = f"""INSERT INTO bills (id, tenant, client_number, client_display, payment_reference,
      bill_number, concept, holder_first_name, holder_last_name, amount_cents, vat_cents,
      currency, due_on, state, paid_at, created_at, updated_at)
    SELECT b, a.tenant, (20000 + i % {k})::text, lpad((20000 + i % {k})::text, 7, '0'),
      '415' || lpad(b::text, 12, '0'), (1000000000 + b)::text,
      CASE WHEN b <= {n} THEN 'Factura del Gas' ELSE 'Financiación acometida' END,
      split_part(a.payer_name, ' ', 1), substr(a.payer_name, strpos(a.payer_name, ' ') + 1),
      {amount("b")}, 0, 'COP', a.created_at::date + 10,
      CASE a.status WHEN 'approved' THEN 'paid' ELSE 'unpaid' END,
      CASE a.status WHEN 'approved' THEN a.finalized_at END, a.created_at - interval '10 days',
      a.created_at
    FROM {each} JOIN payment_attempts a ON a.id = s.i"""
    links = f"INSERT INTO attempt_bills SELECT i, b, {amount('b')}, {amount('b')} FROM {each}"
    seqs = [f"SELECT setval('{t}_id_seq', {n + n // 10})" for t in ("payment_attempts", "bills")]
    return ["SELECT setseed(0.2026)", attempts, bills, links, *seqs]


def prepare(url: str, rows: int) -> float:
    import psycopg
    from sqlalchemy.engine import make_url

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        plain = make_url(url).set(drivername="postgresql")
        admin = plain.set(database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{plain.database}"')
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    _data.migrate(url)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        for sql in fill_sql(rows):
            conn.execute(sql)
    _data.analyze(url)  # VACUUM ANALYZE: what autovacuum does soon after a load
    return time.perf_counter() - started


def app_for(url: str):
    from gaspay import create_app

    return create_app({"DATABASE_URL": url, "SECRET_KEY": "s" * 40, "SANDBOX": True})


def measure(url: str, reps: int) -> list[dict]:
    from gaspay.extensions import db
    from gaspay.staff.payments import Filters, list_payments
    from gaspay.timeutil import today_in_bogota

    with app_for(url).app_context():
        end = today_in_bogota()
        days = {"start": end - dt.timedelta(days=6), "end": end}  # the page's default: a week
        month = {"start": end - dt.timedelta(days=29), "end": end}
        samples = db.session.execute(
            db.text("""SELECT a.reference, b.client_display, b.bill_number, a.cus,
              a.document_number, a.payer_email FROM payment_attempts a JOIN bills b ON b.id = a.id
              WHERE a.tenant = :t AND a.cus IS NOT NULL ORDER BY md5(a.id::text) LIMIT :n"""),
            {"t": TENANT, "n": reps + WARMUP},
        ).all()
        cursor = list_payments(TENANT, Filters(**days)).next_cursor
        cases = [
            ("list, default view (last 7 days), with totals", {}, None),
            ("list, next page (keyset)", {}, cursor),
            ("filter: status declined", {"status": "declined"}, None),
            ("filter: method CARD", {"method": "CARD"}, None),
            ("filter: bank 'davivienda'", {"bank": "davivienda"}, None),
            (RANGE_CASE, month, None),
        ] + [
            (f"search: {label}", col, None)  # the text alone (the page then sets no dates)
            for col, label in enumerate(("reference", "client number (as printed, 0-padded)",
                                         "bill number", "CUS", "document", "e-mail"))
        ]  # fmt: skip
        results = []
        for name, extra, after in cases:
            times = []
            for sample in samples:
                filters = Filters(text=sample[extra]) if isinstance(extra, int) else None
                started = time.perf_counter()
                window = {} if name == RANGE_CASE else days
                page = list_payments(TENANT, filters or Filters(**window, **extra), after)
                times.append((time.perf_counter() - started) * 1000)
                db.session.rollback()
                if not page.attempts:
                    raise SystemExit(f"{name}: nothing found ({filters})")
            times = times[WARMUP:]
            p50, p95 = statistics.median(times), statistics.quantiles(times, n=20)[18]
            met = None if name == RANGE_CASE else p50 <= TARGET_MS
            results.append({"case": name, "p50": p50, "p95": p95, "met": met})
            print(f"{name:48} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms", flush=True)
        return results


def export_span(url: str, payments: int) -> dict:
    """The last whole Colombian days (not today) that hold ``payments`` approved payments."""
    import psycopg

    with psycopg.connect(url) as conn:
        days = conn.execute(
            """SELECT (a.finalized_at AT TIME ZONE 'America/Bogota')::date, count(DISTINCT a.id),
              count(*) FROM payment_attempts a JOIN attempt_bills ab ON ab.attempt_id = a.id
              WHERE a.tenant = %s AND a.status = 'approved' GROUP BY 1 ORDER BY 1 DESC""",
            (TENANT,),
        ).fetchall()[1:]
    span = {"end": days[0][0], "payments": 0, "lines": 0}
    for day, count, lines in days:
        span |= {"start": day, "payments": span["payments"] + count, "lines": span["lines"] + lines}
        if span["payments"] >= payments:
            break
    return span


def export_child(url: str, fmt: str, start: str, end: str) -> None:
    from flask import current_app
    from import_bills import _reset_peak, _status_kib

    from gaspay.extensions import db
    from gaspay.staff.exports import build

    with app_for(url).app_context():
        tenant = current_app.extensions["gaspay.tenants"][TENANT]
        db.session.execute(db.text("SELECT 1")).close()  # connected before the measure
        before, reset, size = _status_kib("VmRSS"), _reset_peak(), 0
        started = time.perf_counter()
        days = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        for chunk in build(tenant, fmt, *days).chunks:
            size += len(chunk)
        seconds, peak = time.perf_counter() - started, _status_kib("VmHWM") if reset else None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kib = {"before": before, "peak": peak or maxrss, "maxrss": maxrss}
    print(json.dumps({"seconds": seconds, "bytes": size} | {k: v / 1024 for k, v in kib.items()}))


def run_exports(url: str, span: dict) -> list[dict]:
    results = []
    for fmt in ("csv", "xlsx", "asobancaria-2001"):
        args = [sys.executable, __file__, "--export-child", url, fmt]
        proc = subprocess.run([*args, str(span["start"]), str(span["end"])], capture_output=True,
                              text=True, cwd=ROOT, check=False)  # fmt: skip
        if proc.returncode:
            raise SystemExit(f"export {fmt} failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.splitlines()[-1]) | {"format": fmt}
        results.append(r | {"met": r["peak"] <= TARGET_MB})
        mib = r["bytes"] / 2**20
        print(f"export {fmt:17} {r['seconds']:6.1f} s {mib:6.1f} MiB  peak RSS {r['peak']:4.0f} MB"
              f" (before {r['before']:.0f}, child {r['maxrss']:.0f})", flush=True)  # fmt: skip
    return results


def report(args, machine: dict, info: dict, queries: list, span: dict, exports: list) -> str:
    ok = {True: "met", False: "**not met**"}
    return "\n".join([
        HEADING, "",
        f"Written by `bench/staff_bench.py` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC "
        f"(whole run {info['wall'] / 60:.1f} min); regenerate it rather than editing by hand.", "",
        f"- Machine: {machine['cpu_model']}, {machine['nproc']} CPUs (shared), {machine['ram']}, "
        f"Python {machine['python']}, PostgreSQL {info['pg']}, SQLAlchemy "
        f"{machine['versions']['sqlalchemy']}; load average {machine['loadavg_start']} at the "
        f"start, {[round(x, 2) for x in os.getloadavg()]} at the end.",
        f"- Command: `{args.command}` (`make bench` runs it; database GASPAY_BENCH_DATABASE_URL, "
        f"default `{DEFAULT_URL}`).",
        f"- Data: {args.rows:,} payment attempts over 90 days, half on `{TENANT}` (measured, PSE "
        "60 % over 13 banks, cards 40 %) and half on `insesp` (PSE); 86 % approved, 8 % declined, "
        f"3 % pending, 2 % failed, 1 % expired; {args.rows + args.rows // 10:,} bills and "
        "attempt_bills (a second bill on every tenth payment); no transitions (neither the list "
        f"nor the exports read them). Filled with `INSERT … SELECT` in {info['fill']:.0f} s "
        "including VACUUM ANALYZE.",
        f"- Cases: `list_payments` (page of 50 + totals by status) alone in an app context, "
        f"{WARMUP} warm-ups then {args.reps} timed calls; each search call looks for another "
        "payment.", "",
        "| case | p50 ms | p95 ms | target | verdict |", "|---|---:|---:|---|---|",
        *[f"| {q['case']} | {q['p50']:.1f} | {q['p95']:.1f} | "
          + ("— | informative |" if q["met"] is None else f"p50 ≤ {TARGET_MS:.0f} ms | "
             f"{ok[q['met']]} |") for q in queries], "",
        "The target is the page staff open (the last 7 days, the default) and every search; the "
        "filters run inside that week as the page runs them. The month row shows what a longer "
        "range costs: the totals read every payment of the range from the covering index "
        "`ix_payment_attempts_tenant_created` (index-only, no table reads), so the time follows "
        "the payments in the range (~5,500 a day here), not the million in the table.", "",
        f"Exports (`gaspay.staff.exports.build`) of {span['payments']:,} approved payments, "
        f"{span['lines']:,} bill rows ({span['start']:%d/%m/%Y} to {span['end']:%d/%m/%Y}; "
        "Asobancaria: a ZIP of daily files), each in a child process streaming to a byte counter. "
        "RSS before = the child's RSS with the app loaded and connected; peak RSS = its peak "
        "during the export (VmHWM reset just before), growth = peak − before; child = its "
        "`ru_maxrss` (start-up included). MB = MiB.", "",
        "| export | seconds | MiB | RSS before MB | peak RSS MB | growth MB | child MB | target "
        "| verdict |", "|---|---:|---:|---:|---:|---:|---:|---|---|",
        *[f"| {e['format']} | {e['seconds']:.1f} | {e['bytes'] / 2**20:.1f} | {e['before']:.0f} "
          f"| {e['peak']:.0f} | {e['peak'] - e['before']:.0f} | {e['maxrss']:.0f} "
          f"| peak ≤ {TARGET_MB:.0f} MB | {ok[e['met']]} |" for e in exports], "",
    ])  # fmt: skip


def write_section(text: str) -> Path:
    path = ROOT / "docs" / "BENCHMARKS.md"
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    section, text = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M), text.strip()
    doc = section.sub(lambda _: text + "\n\n", doc) if section.search(doc) else f"{doc}\n\n{text}"
    path.write_text(doc.strip() + "\n")
    return path


def main() -> int:
    if sys.argv[1:2] == ["--export-child"]:
        export_child(*sys.argv[2:6])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--export-payments", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="leave the generated data in place")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    args.command = " ".join(["python bench/staff_bench.py", *sys.argv[1:]])
    import psycopg

    url = os.environ.get("GASPAY_BENCH_DATABASE_URL", DEFAULT_URL)
    began, machine = time.perf_counter(), _machine.machine()
    print(f"filling {args.rows:,} payments ...", flush=True)
    try:
        info = {"fill": prepare(url, args.rows)}
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL unreachable at {url}: {exc}") from None
    print(f"filled in {info['fill']:.0f} s", flush=True)
    queries = measure(url, args.reps)
    span = export_span(url, args.export_payments)
    exports = run_exports(url, span)
    with psycopg.connect(url, autocommit=True) as conn:
        info["pg"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        if not args.keep:
            conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    info["wall"] = time.perf_counter() - began
    text = report(args, machine, info, queries, span, exports)
    print(f"\n{text}\nwrote {write_section(text)}")
    return 1 if args.check and any(r["met"] is False for r in queries + exports) else 0


if __name__ == "__main__":
    sys.exit(main())
