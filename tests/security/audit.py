"""`make audit`: bandit on the code, pip-audit on the app's environment, wapiti on a live portal.

    .venv-audit/bin/python tests/security/audit.py            # what `make audit` runs
    .venv-audit/bin/python tests/security/audit.py --skip-wapiti

The scanners live in their own environment (.venv-audit), never in the app's. The portal is
served by gunicorn from the app's environment on a free 127.0.0.1 port, on a SQLite database of
its own with the demo data and the local sandbox gateway (GASPAY_SANDBOX=true; the sandbox's own
pages are excluded from the scan), with the rate limits raised so that the scanner's requests
reach the code instead of the limiter. Wapiti runs with a socket guard (a sitecustomize module)
that refuses to resolve or connect to anything but 127.0.0.1/::1/localhost, with its out-of-band
endpoints pointed at a dead local port, its bug reports off, and a time limit on the scan and on
each attack module; the whole run is also killed past a hard deadline.

The verdict: exit 1 when bandit reports a HIGH or MEDIUM issue, pip-audit a known vulnerability,
or wapiti a finding of medium severity or more (or the portal answers 500), that
tests/security/audit-allowlist.toml does not explain with a reason. When pip-audit cannot reach
its vulnerability data (only the package index is reachable here) that is recorded, not failed.
Everything is written to test-artifacts/audit.json and test-artifacts/audit.md.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import fnmatch
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
ALLOWLIST = Path(__file__).with_name("audit-allowlist.toml")
APP_BIN = ROOT / ".venv" / "bin"
TOOLS_BIN = ROOT / ".venv-audit" / "bin"
LOCAL = "127.0.0.1"
BANDIT_TARGETS = ["gaspay", "wsgi.py"]
FAILING_BANDIT = {"HIGH", "MEDIUM"}
LEVELS = {0: "info", 1: "low", 2: "medium", 3: "high", 4: "critical"}
FAILING_LEVEL = 2  # wapiti: medium and above
# Wapiti modules: every attack that stays on the target. Left out: ssrf, xxe and log4shell
# (they need an out-of-band endpoint on the internet), ssl and https_redirect (no TLS here: the
# TLS proxy is in front in production), wapp/htp/cms/nikto/buster (fingerprinting databases or
# wordlists from the internet, or minutes of brute force), brute_login_form (the login limits
# are tested in tests/security), timesql (minutes of sleeps).
WAPITI_MODULES = [
    "backup",
    "cookieflags",
    "crlf",
    "csp",
    "csrf",
    "exec",
    "file",
    "htaccess",
    "http_headers",
    "methods",
    "permanentxss",
    "redirect",
    "sql",
    "upload",
    "xss",
]
DEMO_LOGIN = ("cliente@interservicios.test", "pago-seguro-2026")  # gaspay/demo.py
# sitecustomize for the scanner's interpreter: only the loopback interface can be reached.
GUARD = r"""
import os, socket

_LOG = os.environ.get("AUDIT_GUARD_LOG")
_LOCAL = {"127.0.0.1", "::1", "localhost", "ip6-localhost"}
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _note(what):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(what + "\n")


def _local(host):
    if isinstance(host, bytes):
        host = host.decode()
    return host is None or str(host) in _LOCAL or str(host).startswith("127.")


def getaddrinfo(host, *args, **kwargs):
    if not _local(host):
        _note(f"resolve {host}")
        raise socket.gaierror(socket.EAI_NONAME, f"audit guard: {host} is not 127.0.0.1")
    return _real_getaddrinfo(host, *args, **kwargs)


def _check(address):
    if isinstance(address, tuple) and not _local(address[0]):
        _note(f"connect {address[0]}:{address[1]}")
        raise ConnectionRefusedError(f"audit guard: {address[0]} is not 127.0.0.1")


def connect(self, address):
    _check(address)
    return _real_connect(self, address)


def connect_ex(self, address):
    _check(address)
    return _real_connect_ex(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
"""


# --------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(f"[audit] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return sock.getsockname()[1]


def run(cmd: list[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def tool_version(exe: Path, *args: str) -> str:
    try:
        out = run([str(exe), *args], timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({type(exc).__name__})"
    lines = (out.stdout + "\n" + out.stderr).splitlines()
    versioned = [line.strip() for line in lines if re.search(r"\d+\.\d+", line)]
    return versioned[0] if versioned else "unknown"


def load_allowlist(path: Path = ALLOWLIST) -> dict[str, list[dict]]:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    for section, entries in data.items():
        for entry in entries:
            if not str(entry.get("reason", "")).strip():
                raise SystemExit(f"{path.name}: every [[{section}]] entry needs a reason")
            entry["_used"] = 0
    return data


def explain(entries: list[dict], finding: dict, keys: dict[str, str]) -> str | None:
    """The reason of the first allow-list entry whose patterns all match the finding."""
    for entry in entries:
        if all(
            fnmatch.fnmatchcase(str(finding.get(field, "")), str(entry[key]))
            for key, field in keys.items()
            if key in entry
        ):
            entry["_used"] += 1
            return entry["reason"].strip()
    return None


# --------------------------------------------------------------------------- bandit


def run_bandit(allow: dict) -> dict:
    log("bandit: " + " ".join(BANDIT_TARGETS))
    exe = TOOLS_BIN / "bandit"
    out = run([str(exe), "-r", *BANDIT_TARGETS, "-f", "json", "-q"], timeout=300, cwd=ROOT)
    data = json.loads(out.stdout)
    findings = []
    for item in data["results"]:
        code = "\n".join(
            line.split(" ", 1)[1] if " " in line else line
            for line in item["code"].splitlines()
            if line.strip()
        )
        finding = {
            "id": item["test_id"],
            "name": item["test_name"],
            "severity": item["issue_severity"],
            "confidence": item["issue_confidence"],
            "file": item["filename"],
            "line": item["line_number"],
            "text": item["issue_text"],
            "code": code,
        }
        finding["explained"] = explain(
            allow.get("bandit", []), finding, {"test_id": "id", "file": "file", "code": "code"}
        )
        finding["fails"] = finding["severity"] in FAILING_BANDIT and not finding["explained"]
        findings.append(finding)
    counts = collections.Counter(f["severity"].lower() for f in findings)
    return {
        "command": shlex.join(["bandit", "-r", *BANDIT_TARGETS, "-f", "json", "-q"]),
        "version": tool_version(exe, "--version"),
        "errors": data.get("errors", []),
        "by_severity": {k: counts.get(k, 0) for k in ("high", "medium", "low")},
        "findings": findings,
        "unexplained_failing": sum(f["fails"] for f in findings),
        "passed": not data.get("errors") and not any(f["fails"] for f in findings),
    }


# --------------------------------------------------------------------------- pip-audit


def _site_packages() -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return run([str(APP_BIN / "python"), "-c", code], timeout=60).stdout.strip()


def _pip_audit_once(service: str, site: str, out_file: Path) -> dict:
    cmd = [
        str(TOOLS_BIN / "pip-audit"),
        "--path",
        site,
        "--skip-editable",
        "--vulnerability-service",
        service,
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--timeout",
        "15",
        "--output",
        str(out_file),
    ]
    try:
        out = run(cmd, timeout=240)
    except subprocess.TimeoutExpired:
        return {"service": service, "status": "unreachable", "detail": "timed out after 240 s"}
    try:
        data = json.loads(out_file.read_text())
    except (OSError, ValueError):
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"service": service, "status": "unreachable", "detail": " | ".join(tail)}
    deps = data.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = [d for d in deps if not d.get("skip_reason")]
    result = {
        "service": service,
        "dependencies": len(deps),
        "audited": len(audited),
        "skipped": len(skipped),
        "vulnerabilities": [
            {
                "package": d["name"],
                "version": d.get("version"),
                "id": v["id"],
                "aliases": v.get("aliases", []),
                "fix_versions": v.get("fix_versions", []),
            }
            for d in audited
            for v in d.get("vulns", [])
        ],
    }
    if deps and not audited:
        result["status"] = "unreachable"
        result["detail"] = skipped[0]["skip_reason"] if skipped else "no dependency audited"
    else:
        result["status"] = "audited"
    return result


def run_pip_audit(allow: dict, work: Path) -> dict:
    site = _site_packages()
    log(f"pip-audit: {site}")
    tries = []
    for service in ("pypi", "osv"):
        result = _pip_audit_once(service, site, work / f"pip-audit-{service}.json")
        tries.append(result)
        if result["status"] == "audited":
            break
    final = tries[-1]
    vulns = final.get("vulnerabilities", [])
    for vuln in vulns:
        vuln["explained"] = explain(allow.get("pip_audit", []), vuln, {"id": "id"})
        vuln["fails"] = not vuln["explained"]
    status = final["status"]
    summary = (
        "pip-audit: vulnerability service unreachable"
        if status == "unreachable"
        else f"pip-audit: {final['audited']} packages audited, {len(vulns)} known vulnerabilities"
    )
    return {
        "version": tool_version(TOOLS_BIN / "pip-audit", "--version"),
        "environment": str(Path(site).relative_to(ROOT)) if site.startswith(str(ROOT)) else site,
        "status": status,
        "summary": summary,
        "tries": [{k: v for k, v in t.items() if k != "vulnerabilities"} for t in tries],
        "vulnerabilities": vulns,
        "unexplained_failing": sum(v["fails"] for v in vulns),
        "passed": not any(v["fails"] for v in vulns),
    }


# --------------------------------------------------------------------------- live portal


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((LOCAL, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class LocalRedis:
    """The production profile's rate-limit store (production refuses memory://): a redis-server
    of the audit's own on a free port, nothing saved; else the machine's on 6379 (database 13,
    keys under a prefix of this run)."""

    def __init__(self, work: Path):
        self.exe = shutil.which("redis-server")
        self.port = free_port() if self.exe else 6379
        self.log = work / "redis.log"
        self.proc: subprocess.Popen | None = None
        if self.exe is None and not redis_answers(6379):
            raise RuntimeError(
                "the production profile needs Redis (GASPAY_RATELIMIT_STORAGE_URI): install "
                "redis-server (`make redis`) or run one on 127.0.0.1:6379"
            )
        self.url = f"redis://{LOCAL}:{self.port}/{0 if self.exe else 13}"

    def start(self) -> None:
        if self.exe is None:
            return
        options = [
            "--bind",
            LOCAL,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.log.parent),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.exe, "--port", str(self.port), *options],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self.log.read_text()[-2000:]}")
            if redis_answers(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not answer within 20 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class Portal:
    """gunicorn serving `wsgi:app` from the app's environment, configured through GASPAY_*.

    "development": the sandbox on, every form usable. "production": GASPAY_ENV=production, no
    sandbox, production-shaped keys, the gateway at a local https port nothing listens on (the
    pages still render; paying fails with the gateway-unavailable message), rate limits in a
    Redis of the audit's own, a mail server nobody answers on (reset mail is logged as lost).
    """

    def __init__(self, work: Path, profile: str):
        self.work = work = work / profile
        work.mkdir()
        self.profile = profile
        self.port = free_port()
        self.url = f"http://{LOCAL}:{self.port}"
        instance = work / "instance"
        instance.mkdir()
        settings = {
            "ENV": "development",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": f"sqlite:///{work / 'gaspay.sqlite3'}",
            "INSTANCE_PATH": str(instance),
            "TENANTS_DIR": str(ROOT / "instance" / "tenants"),
            "MAIL_DIR": str(work / "mail"),
            "SANDBOX": "true",
            "SANDBOX_BASE_URL": self.url,
            "SANDBOX_EVENT_DELAY_SECONDS": "0.2",
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOOKUP_RATE_LIMIT": "100000 per minute",
            "LOOKUP_TARGET_RATE_LIMIT": "100000 per minute",
            "PAY_RATE_LIMIT": "100000 per minute",
            "LOGIN_RATE_LIMIT": "100000 per minute",
            "RESET_RATE_LIMIT": "100000 per minute",
            "RESET_TARGET_RATE_LIMIT": "100000 per minute",
            "GATEWAY_TIMEOUT_SECONDS": "3",
            "ASYNC_URL_WAIT_SECONDS": "2",
        }
        self.redis: LocalRedis | None = None
        if profile == "production":
            dead = free_port()
            self.redis = LocalRedis(work)
            settings.update(
                ENV="production",
                SANDBOX="false",
                PUBLIC_URL=self.url,
                RATELIMIT_STORAGE_URI=self.redis.url,
                RATELIMIT_KEY_PREFIX=f"gaspay-audit-{os.getpid()}",
                MAIL_SERVER=LOCAL,
                MAIL_PORT=str(dead),
                MAIL_USE_TLS="false",
            )
            for path in sorted((ROOT / "instance" / "tenants").glob("*.toml")):
                prefix = f"{path.stem.upper().replace('-', '_')}_WOMPI_"
                settings.update(
                    {
                        prefix + "PUBLIC_KEY": f"pub_prod_audit_{path.stem}",
                        prefix + "PRIVATE_KEY": f"prv_prod_audit_{path.stem}",
                        prefix + "INTEGRITY_SECRET": f"prod_integrity_audit_{path.stem}",
                        prefix + "EVENTS_SECRET": f"prod_events_audit_{path.stem}",
                        prefix + "API_URL": f"https://{LOCAL}:{dead}/v1",
                        prefix + "CHECKOUT_URL": f"https://{LOCAL}:{dead}/p/",
                    }
                )
                # A tenant on PlacetoPay (the demo's Gasnova) starts in production too.
                p2p = f"{path.stem.upper().replace('-', '_')}_PLACETOPAY_"
                settings.update(
                    {
                        p2p + "LOGIN": f"audit{path.stem.replace('-', '')}"[:32],
                        p2p + "SECRET_KEY": f"audit-secret-key-{path.stem}",
                        p2p + "BASE_URL": f"https://{LOCAL}:{dead}",
                    }
                )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GASPAY_", "FLASK_"))}
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
            env.pop(key, None)
        env.update({f"GASPAY_{k}": v for k, v in settings.items()})
        env["PORT"] = str(self.port)
        self.env = env
        self.settings = {
            k: v for k, v in settings.items() if not k.endswith(("SECRET_KEY", "_SECRET", "_KEY"))
        }
        self.proc: subprocess.Popen | None = None
        self.access_log = work / "access.log"
        self.error_log = work / "gunicorn.log"

    def prepare(self) -> None:
        flask = [str(APP_BIN / "flask"), "--app", "gaspay"]
        # The demo data is refused in production (it publishes a login): the production
        # portal's database is filled by a development-profile run of the same commands.
        env = {k: v for k, v in self.env.items() if k != "GASPAY_ENV"}
        env["GASPAY_SANDBOX"] = "true"
        for args in (["db", "upgrade"], ["demo", "load"]):
            out = run([*flask, *args], timeout=180, cwd=ROOT, env=env)
            if out.returncode != 0:
                raise RuntimeError(f"flask {' '.join(args)} failed:\n{out.stderr[-2000:]}")

    def start(self) -> None:
        if self.redis is not None:
            self.redis.start()
        gunicorn = str(APP_BIN / "gunicorn")
        help_text = run([gunicorn, "--help"], timeout=60).stdout
        options = ["--no-control-socket"] if "--no-control-socket" in help_text else []
        cmd = [
            gunicorn,
            "--bind",
            f"{LOCAL}:{self.port}",
            "--workers",
            "1",  # the sandbox keeps its emulated transactions in this one process
            "--threads",
            "8",
            "--timeout",
            "60",
            "--access-logfile",
            str(self.access_log),
            "--access-logformat",
            '%(s)s %(m)s "%(U)s"',
            "--error-logfile",
            str(self.error_log),
            *options,
            "wsgi:app",
        ]
        with self.error_log.open("ab") as out:  # the app's own log lines go there too
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.error_log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310 - our own 127.0.0.1 server
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn not healthy within 60 s")

    def stop(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
        finally:
            if self.redis is not None:
                self.redis.stop()

    def answers(self) -> dict:
        """Requests served during the scan, by status, and the paths that answered 500."""
        statuses: collections.Counter[str] = collections.Counter()
        errors: collections.Counter[str] = collections.Counter()
        customer_pages = 0  # evidence that the scan ran logged in
        if self.access_log.exists():
            for line in self.access_log.read_text(errors="replace").splitlines():
                status, _, rest = line.partition(" ")
                statuses[status] += 1
                if status == "200" and ("/clientes/avisos" in rest or "/clientes/pagos" in rest):
                    customer_pages += 1
                if status == "500":
                    errors[rest[:200]] += 1
        return {
            "requests": sum(statuses.values()),
            "by_status": dict(sorted(statuses.items())),
            "customer_pages_answered_200": customer_pages,
            "internal_errors": [{"request": k, "count": v} for k, v in errors.most_common(50)],
        }


# --------------------------------------------------------------------------- wapiti

# Two passes: every module against the development profile (logged in as the demo customer),
# then the header and cookie checks against the production profile (what a deployment sends).
PRODUCTION_MODULES = ["cookieflags", "csp", "http_headers", "methods"]


def wapiti_command(portal: Portal, modules: list[str], scan_seconds: int, args) -> list[str]:
    base = portal.url
    # Out-of-band endpoints only serve modules left out (ssrf, xxe, log4shell); pointed at a
    # local port nothing listens on all the same. (--internal-endpoint must answer a ping, so it
    # keeps its default, which the guard makes unreachable.)
    dead = f"http://{LOCAL}:{free_port()}/"
    cmd = [
        str(TOOLS_BIN / "wapiti"),
        "--url",
        f"{base}/",
        "--scope",
        "folder",
        "--module",
        ",".join(modules),
        "--max-scan-time",
        str(scan_seconds),
        "--max-attack-time",
        str(args.attack_seconds),
        "--depth",
        "6",
        "--max-links-per-page",
        "60",
        "--max-files-per-dir",
        "40",
        "--max-parameters",
        "15",
        "--tasks",
        "4",
        "--timeout",
        "10",
        "--exclude",
        f"{base}/sandbox/*",
        "--exclude",
        f"{base}/interservicios/clientes/salir",
        "--external-endpoint",
        dead,
        "--dns-endpoint",
        "localhost",
        "--store-session",
        str(portal.work / "wapiti-session"),
        "--store-config",
        str(portal.work / "wapiti-config"),
        "--flush-session",
        "--no-bugreport",
        "--verbose",
        "1",
        "--format",
        "json",
        "--output",
        str(portal.work / "wapiti.json"),
    ]
    if portal.profile == "development":
        cmd += [
            "--form-url",
            f"{base}/interservicios/clientes/entrar",
            "--form-user",
            DEMO_LOGIN[0],
            "--form-password",
            DEMO_LOGIN[1],
        ]
    return cmd


def _wapiti_findings(data: dict, allow: dict, profile: str) -> list[dict]:
    findings = []
    for kind in ("vulnerabilities", "anomalies", "additionals"):
        for category, items in (data.get(kind) or {}).items():
            for item in items:
                level = int(item.get("level", 0) or 0)
                finding = {
                    "profile": profile,
                    "kind": kind,
                    "category": category,
                    "level": level,
                    "severity": LEVELS.get(level, str(level)),
                    "method": item.get("method"),
                    "path": item.get("path"),
                    "parameter": item.get("parameter") or "",
                    "info": item.get("info") or "",
                    "module": item.get("module") or "",
                    "wstg": item.get("wstg") or [],
                }
                finding["explained"] = explain(
                    allow.get("wapiti", []),
                    finding,
                    {"profile": "profile", "category": "category", "path": "path", "info": "info"},
                )
                finding["fails"] = level >= FAILING_LEVEL and not finding["explained"]
                findings.append(finding)
    return findings


def _scan(portal: Portal, modules: list[str], scan_seconds: int, allow: dict, args) -> dict:
    work = portal.work
    log(f"{portal.profile} portal: {portal.url} (gunicorn, SQLite, demo data)")
    portal.prepare()
    portal.start()
    guard_dir = work / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    guard_log = work / "guard.log"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        PYTHONPATH=str(guard_dir),
        AUDIT_GUARD_LOG=str(guard_log),
        HOME=str(work),  # whatever the scanner keeps between runs stays in the work dir
        NO_PROXY="*",
    )
    cmd = wapiti_command(portal, modules, scan_seconds, args)
    hard_limit = scan_seconds + 120
    log(
        f"wapiti: {len(modules)} modules, scan <= {scan_seconds} s, each attack <= "
        f"{args.attack_seconds} s, killed at {hard_limit} s"
    )
    started = time.monotonic()
    scan_log = work / "wapiti.log"
    try:
        with scan_log.open("w") as out:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=work,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                returncode: int | str = proc.wait(timeout=hard_limit)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
                returncode = "killed"
    finally:
        seconds = round(time.monotonic() - started, 1)
        portal.stop()
    answers = portal.answers()
    report_file = work / "wapiti.json"
    if not report_file.exists():
        tail = scan_log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"wapiti wrote no report (exit {returncode}):\n{tail}")
    data = json.loads(report_file.read_text())
    shutil.copy(report_file, ARTIFACTS / f"wapiti-{portal.profile}.json")
    shutil.copy(scan_log, ARTIFACTS / f"wapiti-{portal.profile}.log")
    internal = answers["internal_errors"]
    for error in internal:
        error["explained"] = explain(allow.get("server", []), error, {"request": "request"})
    info = data.get("infos", {})
    shown = [c.replace(portal.url, "<portal>").replace(str(work), "<work>") for c in cmd[1:]]
    return {
        "profile": portal.profile,
        "command": "wapiti " + shlex.join(shown),
        "portal_settings": portal.settings,
        "modules": modules,
        "exit": returncode,
        "seconds": seconds,
        "crawled_pages": info.get("crawled_pages_nbr"),
        "server": answers,
        "blocked_outbound": sorted(set(guard_log.read_text().splitlines()))
        if guard_log.exists()
        else [],
        "findings": _wapiti_findings(data, allow, portal.profile),
    }


def run_wapiti(allow: dict, work: Path, args) -> dict:
    passes = [
        _scan(Portal(work, "development"), WAPITI_MODULES, args.scan_seconds, allow, args),
        _scan(Portal(work, "production"), PRODUCTION_MODULES, 60, allow, args),
    ]
    findings = [f for p in passes for f in p.pop("findings")]
    internal = [e for p in passes for e in p["server"]["internal_errors"]]
    counts = collections.Counter(f["severity"] for f in findings)
    return {
        "version": tool_version(TOOLS_BIN / "wapiti", "--version"),
        "passes": passes,
        "seconds": round(sum(p["seconds"] for p in passes), 1),
        "requests": sum(p["server"]["requests"] for p in passes),
        "internal_errors": len(internal),
        "blocked_outbound": sorted({b for p in passes for b in p["blocked_outbound"]}),
        "by_severity": {
            name: counts.get(name, 0) for name in ("critical", "high", "medium", "low", "info")
        },
        "findings": findings,
        "unexplained_failing": sum(f["fails"] for f in findings)
        + sum(not e["explained"] for e in internal),
        "passed": all(p["exit"] == 0 for p in passes)
        and not any(f["fails"] for f in findings)
        and all(e["explained"] for e in internal),
    }


# --------------------------------------------------------------------------- report


def disposition(finding: dict) -> str:
    if finding.get("explained"):
        return " ".join(finding["explained"].split())
    return "**unexplained**" if finding.get("fails", True) else "not explained (below the bar)"


def markdown(report: dict) -> str:
    lines = [
        "# Audit",
        "",
        f"Written {report['written_at']} by `{report['command']}` "
        f"({report['seconds']} s): **{'passed' if report['passed'] else 'FAILED'}**.",
        "",
        "| scanner | high | medium | low | info | unexplained (failing) |",
        "|---|---|---|---|---|---|",
    ]
    bandit = report["bandit"]
    b = bandit["by_severity"]
    lines.append(
        f"| bandit | {b['high']} | {b['medium']} | {b['low']} | - | "
        f"{bandit['unexplained_failing']} |"
    )
    pip = report["pip_audit"]
    lines.append(
        f"| pip-audit | {len(pip['vulnerabilities'])} known | - | - | - | "
        f"{pip['unexplained_failing']} ({pip['summary']}) |"
    )
    wapiti = report.get("wapiti")
    if wapiti:
        w = wapiti["by_severity"]
        lines.append(
            f"| wapiti | {w['critical'] + w['high']} | {w['medium']} | {w['low']} | {w['info']} |"
            f" {wapiti['unexplained_failing']} |"
        )
        lines.append("")
        for scan in wapiti["passes"]:
            lines.append(
                f"- wapiti, {scan['profile']} profile: {scan['seconds']} s, "
                f"{scan['crawled_pages']} pages crawled, {scan['server']['requests']} requests "
                f"served {scan['server']['by_status']}, customer pages answered 200: "
                f"{scan['server']['customer_pages_answered_200']}"
            )
        lines.append(f"- outbound attempts blocked by the guard: {wapiti['blocked_outbound']}")
    lines += ["", "| scanner | severity | what | where | disposition |", "|---|---|---|---|---|"]
    for f in bandit["findings"]:
        where = f"{f['file']}:{f['line']}"
        lines.append(
            f"| bandit | {f['severity'].lower()} | {f['id']} {f['name']} | `{where}` | "
            f"{disposition(f)} |"
        )
    for v in pip["vulnerabilities"]:
        lines.append(
            f"| pip-audit | known | {v['id']} | {v['package']} {v['version']} | {disposition(v)} |"
        )
    if wapiti:
        for f in wapiti["findings"]:
            what = f"{f['category']}: {f['info'][:90]}".replace("|", "/").replace("\n", " ")
            lines.append(
                f"| wapiti ({f['profile'][:4]}) | {f['severity']} | {what} | "
                f"`{f['method']} {f['path']}` | "
                f"{disposition(f)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-wapiti", action="store_true", help="bandit and pip-audit only")
    parser.add_argument("--scan-seconds", type=int, default=180, help="wapiti --max-scan-time")
    parser.add_argument("--attack-seconds", type=int, default=20, help="--max-attack-time")
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for exe in (TOOLS_BIN / "bandit", TOOLS_BIN / "pip-audit", APP_BIN / "gunicorn"):
        if not exe.exists():
            raise SystemExit(f"{exe} is missing: run `make audit` (it creates .venv-audit)")
    ARTIFACTS.mkdir(exist_ok=True)
    allow = load_allowlist(args.allowlist)
    started = time.monotonic()
    invoked = shlex.join(
        [
            os.path.relpath(sys.executable, ROOT),
            "tests/security/audit.py",
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )
    report: dict = {
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": f"cd {ROOT} && {invoked}",
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="gaspay-audit-") as tmp:
        work = Path(tmp)
        report["bandit"] = run_bandit(allow)
        report["pip_audit"] = run_pip_audit(allow, work)
        if not args.skip_wapiti:
            report["wapiti"] = run_wapiti(allow, work, args)
    report["seconds"] = round(time.monotonic() - started, 1)
    report["allowlist_unused"] = [
        {"section": section, **{k: v for k, v in e.items() if not k.startswith("_")}}
        for section, entries in allow.items()
        for e in entries
        if not e["_used"] and not (section in ("wapiti", "server") and args.skip_wapiti)
    ]
    parts = [report["bandit"], report["pip_audit"], report.get("wapiti") or {"passed": True}]
    report["passed"] = all(p["passed"] for p in parts)
    (ARTIFACTS / "audit.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    summary = markdown(report)
    (ARTIFACTS / "audit.md").write_text(summary)
    print(summary)
    for entry in report["allowlist_unused"]:
        log(f"allow-list entry matched nothing (stale?): {entry}")
    log(f"written: test-artifacts/audit.json, test-artifacts/audit.md; {report['seconds']} s")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
