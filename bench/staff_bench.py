"""Staff payments list and exports at 1 M payments -> bench/out/staff.json (bench/README.md)."""

import datetime as dt
import resource
import statistics
import sys
import time

import common
from common import FIRST_NAMES, LAST_NAMES, log
from flask import current_app

from gaspay.extensions import db
from gaspay.staff.exports import build
from gaspay.staff.payments import Filters, list_payments
from gaspay.timeutil import today_in_bogota

TENANT = "interservicios"  # measured: Wompi, PSE and cards; the other half is insesp's
RANGE = "range: last 30 days, with totals (page 1)"  # informative: its cost follows the range

BANKS = [("1007", "Bancolombia")] * 6 + [("1051", "Banco Davivienda")] * 3 + [
    ("1001", "Banco de Bogotá"), ("1507", "Nequi"), ("1013", "BBVA Colombia"),
    ("1023", "Banco de Occidente"), ("1002", "Banco Popular"), ("1032", "Banco Caja Social"),
    ("1019", "Scotiabank Colpatria"), ("1052", "Banco AV Villas"), ("1062", "Banco Falabella"),
]  # fmt: skip


def fill_sql(n: int) -> list[str]:
    def arr(values) -> str:
        return "(ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "])"

    def amount(x: str) -> str:  # a bill's amount from its id: $ 15.000 to $ 350.000, 100-peso steps
        return f"(1500000 + (({x})::bigint * 7919 % 3351) * 10000)"

    k = n // 3 // 2 * 2  # clients (each pays about monthly); even, so a client keeps its tenant
    name = f"{arr(FIRST_NAMES)}[1 + c % {len(FIRST_NAMES)}] || ' ' || "
    name += f"{arr(LAST_NAMES)}[1 + c / {len(FIRST_NAMES)} % {len(LAST_NAMES)}]"
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
        CASE WHEN status <> 'pending' THEN created + (30 + i % 600) * interval '1 s' END AS final
      FROM (SELECT i, i % {k} AS c, CASE WHEN i % {k} % 2 = 0 THEN '{TENANT}' ELSE 'insesp'
          END AS t, random() AS m, 1 + floor(random() * {len(BANKS)})::int AS bank,
          CASE WHEN r < 0.86 THEN 'approved' WHEN r < 0.94 THEN 'declined' WHEN r < 0.97
            THEN 'pending' WHEN r < 0.99 THEN 'failed' ELSE 'expired' END AS status,
          now() - interval '90 days' * (1 - i::float / {n}) + random() * interval '2 min' AS created
        FROM (SELECT i, random() AS r FROM generate_series(1, {n}) AS i) s0) s1) s2"""
    each = f"""(SELECT b, CASE WHEN b <= {n} THEN b ELSE (b - {n}) * 10 END AS i
      FROM generate_series(1, {n} + {n} / 10) AS b) s"""  # bill b is paid by attempt i
    bills = f"""INSERT INTO bills (id, tenant, client_number, client_display, payment_reference,
      bill_number, concept, holder_first_name, holder_last_name, amount_cents, vat_cents, currency,
      due_on, state, paid_at, created_at, updated_at)
    SELECT b, a.tenant, (20000 + i % {k})::text, lpad((20000 + i % {k})::text, 7, '0'),
      '415' || lpad(b::text, 12, '0'), (1000000000 + b)::text,
      CASE WHEN b <= {n} THEN 'Factura del Gas' ELSE 'Financiación acometida' END,
      split_part(a.payer_name, ' ', 1), substr(a.payer_name, strpos(a.payer_name, ' ') + 1),
      {amount("b")}, 0, 'COP', a.created_at::date + 10,
      CASE a.status WHEN 'approved' THEN 'paid' ELSE 'unpaid' END,
      CASE a.status WHEN 'approved' THEN a.finalized_at END,
      a.created_at - interval '10 days', a.created_at
    FROM {each} JOIN payment_attempts a ON a.id = s.i"""
    links = f"INSERT INTO attempt_bills SELECT i, b, {amount('b')}, {amount('b')} FROM {each}"
    seqs = [f"SELECT setval('{t}_id_seq', {n + n // 10})" for t in ("payment_attempts", "bills")]
    return ["SELECT setseed(0.2026)", attempts, bills, links, *seqs]


def measure(url: str, reps: int) -> list[dict]:
    with common.app_for(url).app_context():
        end = today_in_bogota()
        week, month = ({"start": end - dt.timedelta(d), "end": end} for d in (6, 29))
        samples = db.session.execute(db.text("""SELECT a.reference, b.client_display,
          b.bill_number, a.cus, a.document_number, a.payer_email FROM payment_attempts a JOIN
          bills b ON b.id = a.id WHERE a.tenant = :t AND a.cus IS NOT NULL
          ORDER BY md5(a.id::text) LIMIT :n"""), {"t": TENANT, "n": reps + 3}).all()  # fmt: skip
        results, after = [], list_payments(TENANT, Filters(**week)).next_cursor
        cases = [("list, default view (last 7 days), with totals", week, None),
                 ("list, next page (keyset)", week, after), (RANGE, month, None)]  # fmt: skip
        for key, value in (("status", "declined"), ("method", "CARD"), ("bank", "davivienda")):
            cases.insert(-1, (f"filter: {key} {value}", week | {key: value}, None))
        labels = ("reference", "client number (0-padded)", "bill number", "CUS", "document")
        cases += [(f"search: {label}", col, None) for col, label in enumerate((*labels, "e-mail"))]
        for name, spec, cursor in cases:
            times = []
            for sample in samples:  # a search alone: the page then sets no dates
                filters = Filters(**spec) if isinstance(spec, dict) else Filters(text=sample[spec])
                started = time.perf_counter()
                page = list_payments(TENANT, filters, cursor)
                times.append((time.perf_counter() - started) * 1000)
                db.session.rollback()
                assert page.attempts, f"{name}: nothing found ({filters})"
            p50, p95 = statistics.median(times[3:]), statistics.quantiles(times[3:], n=20)[18]
            met = None if name == RANGE else p50 <= 30
            results.append({"case": name, "p50": p50, "p95": p95, "met": met})
            log(f"{name:48} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
        return results


def export_span(url: str, payments: int) -> dict:
    """The last whole Colombian days (not today) that hold ``payments`` approved payments."""
    days = common.pg(f"""SELECT (a.finalized_at AT TIME ZONE 'America/Bogota')::date,
      count(DISTINCT a.id), count(*) FROM payment_attempts a JOIN attempt_bills ab ON
      ab.attempt_id = a.id WHERE a.tenant = '{TENANT}' AND a.status = 'approved' GROUP BY 1
      ORDER BY 1 DESC""", url=url)[1:]  # fmt: skip
    s = {"end": days[0][0], "payments": 0, "lines": 0}
    for day, count, lines in days:
        if s["payments"] < payments:
            s |= {"start": day, "payments": s["payments"] + count, "lines": s["lines"] + lines}
    return s


def export_child(url: str, fmt: str, start: str, end: str) -> dict:
    """In a child (common.child): one export streamed to a byte counter; RSS before, peak."""
    with common.app_for(url).app_context():
        tenant = current_app.extensions["gaspay.tenants"][TENANT]
        db.session.execute(db.text("SELECT 1")).close()  # connected before the measure
        before, started = common.mb("VmRSS"), time.perf_counter()
        common.reset_peak()
        size = sum(map(len, build(tenant, fmt, *map(dt.date.fromisoformat, (start, end))).chunks))
        seconds, peak = time.perf_counter() - started, common.mb("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "bytes": size, "before": before, "peak": peak, "maxrss": maxrss}


def main(argv: list[str]) -> int:
    args = common.options(__doc__, argv, rows=1_000_000, reps=30, export_payments=100_000,
                          check=False)  # fmt: skip
    started, load, exports = time.monotonic(), common.machine()["load"], []
    url = common.pg_create("hb_staff")[0]
    try:
        log(f"filling {args.rows:,} payments ...")
        common.migrate(url)
        common.pg(*fill_sql(args.rows), url=url, autocommit=False)
        common.pg("VACUUM ANALYZE", url=url)  # the statistics autovacuum would gather
        fill, queries = time.monotonic() - started, measure(url, args.reps)
        span = export_span(url, args.export_payments)
        for fmt in ("csv", "xlsx", "asobancaria-2001"):
            days = map(str, (span["start"], span["end"]))
            e = common.child("staff_bench", "export_child", url, fmt, *days) | {"format": fmt}
            exports.append(e | {"met": e["peak"] <= 100})
            log(f"export {fmt:17} {e['seconds']:6.1f} s  peak RSS {e['peak']:4.0f} MB")
    finally:
        common.pg_drop("hb_staff")
    data = {"rows": args.rows, "reps": args.reps, "fill_s": fill, "load_start": load}
    data |= {"tenant": TENANT, "queries": queries, "span": span, "exports": exports}
    common.save("staff", data, started, argv)
    return 1 if args.check and any(r["met"] is False for r in queries + exports) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
