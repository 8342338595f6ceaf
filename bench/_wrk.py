"""wrk (Debian's package) driven from Python: one generated Lua script per cell, JSON results.

Every script prints one ``WRK_JSON {...}`` line from ``done()``: requests, duration, errors and
latency percentiles (microseconds). Requests are formatted once in ``init()`` so the load
generator spends as little CPU per request as it can (it shares the machine with the server).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
ACCEPT_ENCODING = "gzip, deflate, br"  # what a phone's browser sends

COMMON = r"""
wrk.headers["User-Agent"] = {ua}
wrk.headers["Accept-Encoding"] = {ae}
{headers}
local threads = {{}}
local next_id = 0
wrapped = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local wraps = 0
  for _, t in ipairs(threads) do wraps = wraps + (t:get("wrapped") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"mean_us":%.1f,"stdev_us":%.1f,"p50_us":%d,' ..
    '"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"wrapped":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, wraps))
end
"""

CYCLE_BODIES = r"""
local reqs = {{}}
local i = 0

function init(args)
  local per = math.floor({count} / {threads})
  local first = {start} + (id - 1) * per
  local last = first + per - 1
  local ln = 0
  for line in io.lines({file}) do
    if ln > last then break end
    if ln >= first then
      local tab = line:find("\t", 1, true)
      local h = {{}}
      for k, v in pairs(wrk.headers) do h[k] = v end
      h["X-Event-Checksum"] = line:sub(1, tab - 1)
      reqs[#reqs + 1] = wrk.format("POST", {path}, h, line:sub(tab + 1))
    end
    ln = ln + 1
  end
end

function request()
  i = i + 1
  if i > #reqs then
    i = 1
    wrapped = wrapped + 1
  end
  return reqs[i]
end
"""

CYCLE_REQUESTS = r"""
local items = {{{items}}}
local reqs = {{}}
local i = 0

function init(args)
  for k, item in ipairs(items) do
    reqs[k] = wrk.format(item[1], item[2], nil, item[3])
  end
  i = ((id or 1) * 7919) % #reqs
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
"""


def lua_str(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII


def _headers(headers: dict[str, str]) -> str:
    return "\n".join(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}" for k, v in headers.items())


def script_get(headers: dict[str, str]) -> str:
    return COMMON.format(
        ua=lua_str(USER_AGENT), ae=lua_str(ACCEPT_ENCODING), headers=_headers(headers)
    )


def _cycle(items: list[tuple[str, str, str | None]]) -> str:
    """Requests (method, path, body) in turn, each thread from its own starting point."""
    lua = ", ".join(
        "{" + ", ".join(lua_str(x) if x is not None else "nil" for x in item) + "}"
        for item in items
    )
    return CYCLE_REQUESTS.format(items=lua)


def script_forms(path: str, bodies: list[str], headers: dict[str, str]) -> str:
    """POST form bodies in turn."""
    head = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    return script_get(head) + _cycle([("POST", path, body) for body in bodies])


def script_paths(paths: list[str], headers: dict[str, str]) -> str:
    """GET the paths in turn."""
    return script_get(headers) + _cycle([("GET", path, None) for path in paths])


def script_events(
    path: str, file: Path, start: int, count: int, threads: int, headers: dict[str, str]
) -> str:
    """POST lines ``start .. start+count-1`` of ``file``; each thread its own block, once."""
    head = {"Content-Type": "application/json", **headers}
    return script_get(head) + CYCLE_BODIES.format(
        count=count, threads=threads, start=start, file=lua_str(str(file)), path=lua_str(path)
    )


@dataclass
class Result:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    errors: dict
    wrapped: int

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def available() -> str | None:
    return shutil.which("wrk")


def run(
    url: str,
    script: Path,
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
    timeout_s: int = 10,
) -> Result:
    command = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-800:]}{proc.stderr}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    secs = data["duration_us"] / 1e6
    return Result(
        requests=data["requests"],
        seconds=secs,
        rps=data["requests"] / secs if secs else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        p999_ms=data["p999_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        errors={k: data[k] for k in ("connect", "read", "write", "status", "timeout")},
        wrapped=data["wrapped"],
    )
