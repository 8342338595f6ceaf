"""HTTP benchmark: gunicorn on 127.0.0.1, production configuration, PostgreSQL and SQLite.

    python bench/http_bench.py [--quick] [--engines postgresql,sqlite] [--rounds 3]
                               [--seconds 4] [--large-rows 1000000] [--profile auto|always|never]
                               [--out docs/BENCHMARKS.md]

For every engine two databases are migrated and filled (10,000 bills; 1,000,000 bills) and each
is served by its own gunicorn (``bench/_wsgi.py``: the app of ``wsgi.py`` with
``GASPAY_ENV=production`` plus the bare reference endpoints). wrk then measures, bounded in time,
requests/s and p50/p99 latency of:

  bare_get   GET  /_bench/bare                the ceiling: same app, server and configuration
  bare_post  POST /_bench/bare                the POST ceiling, with the events' bodies
  lookup     POST /insesp/factura             guest lookup, htmx partial, 10 k bills
  lookup_1m  POST /insesp/factura             the same at 1 M bills
  notices    GET  /interservicios/clientes/avisos   a logged-in customer's notice list
  events     POST /insesp/webhooks/wompi      authentic signed events, one state change each
  static     GET  /static/vendor/htmx-….js    a static file

each at 16 and 64 connections. The cells (engine × scenario × connections) run in rounds, in a
different seeded order each round, so drift of the machine hits all alike; ratios are taken
within a round and the median over rounds is reported. The figures and ratios are printed and
written to docs/BENCHMARKS.md (with the import figures of bench/import_bills.py when its
bench/out/import.json exists). When a target is missed, the workers are profiled with py-spy
under that load and the summary goes into the document.

This file is the command line; the run is ``_run.py``, its parts ``_servers.py`` (databases,
Redis, gunicorn), ``_scenarios.py`` (data, sanity checks, wrk scripts), ``_measure.py`` (cells,
rounds, profiles), ``_targets.py`` (ratios against the targets), ``_diagnostics.py`` (SQL and
plans per request), ``_findings.py`` and ``_report.py`` (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
for _p in (BENCH.parent, BENCH):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import _wrk  # noqa: E402
from _common import ROOT, log  # noqa: E402
from _report import render_saved  # noqa: E402
from _run import run  # noqa: E402

ENGINES = ("postgresql", "sqlite")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about 2 min)")
    parser.add_argument("--engines", default=None, help="comma separated: postgresql,sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="an admin connection URL")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="per cell")
    parser.add_argument("--warmup", type=float, default=None, help="per cell, once")
    parser.add_argument("--small-rows", type=int, default=10_000)
    parser.add_argument("--large-rows", type=int, default=None)
    parser.add_argument("--events-per-cell", type=int, default=None)
    parser.add_argument("--attempts", type=int, default=None, help="pending attempts loaded")
    parser.add_argument("--workers", type=int, default=None, help="default: CPUs (min 2)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile", choices=("auto", "always", "never"), default=None)
    parser.add_argument("--profile-seconds", type=float, default=6.0)
    parser.add_argument("--out", default=None, help="Markdown (default docs/BENCHMARKS.md)")
    parser.add_argument("--json", default=None, help="default bench/out/http.json")
    parser.add_argument("--import-json", default=str(ROOT / "bench" / "out" / "import.json"))
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--render-from", default=None, help="only rewrite --out from a saved JSON report"
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.25,
        help="before each round, wait while other work keeps this share of the CPUs busy",
    )
    parser.add_argument("--quiet-wait", type=float, default=None, help="max seconds per round")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "rounds": 1 if quick else 3,
        "seconds": 2.0 if quick else 3.0,
        "warmup": 1.0 if quick else 1.5,
        "large_rows": 100_000 if quick else 1_000_000,
        "events_per_cell": 2_000 if quick else 8_000,
        "attempts": 20_000 if quick else 100_000,
        "profile": "never" if quick else "auto",
        "quiet_wait": 5.0 if quick else 20.0,
        "workers": max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2),
        "out": str(ROOT / ("bench/out/BENCHMARKS-quick.md" if quick else "docs/BENCHMARKS.md")),
        "json": str(ROOT / ("bench/out/http-quick.json" if quick else "bench/out/http.json")),
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)  # run the finally blocks: stop servers, drop databases


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    if args.render_from:
        return render_saved(Path(args.render_from), Path(args.out))
    if not _wrk.available():
        log("wrk is missing: apt-get install -y wrk (make bench installs it)")
        return 2
    engines = [e.strip() for e in (args.engines or ",".join(ENGINES)).split(",") if e.strip()]
    if any(e not in ENGINES for e in engines):
        log(f"--engines takes {','.join(ENGINES)}")
        return 2
    command = shlex.join(["python", "bench/http_bench.py", *argv])
    return run(args, engines, command)


if __name__ == "__main__":
    sys.exit(main())
