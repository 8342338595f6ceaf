-- wrk -s bench/wrk.lua URL -- FILE FIRST LAST THREADS: FILE's lines FIRST to LAST - 1 (method,
-- path, header, body, tab-separated) split between the threads (bench/README.md), -H on each.
local reqs, i, threads = {}, 0, {}
wraps = 0  -- times a thread ran out of requests and began again (events must not)
function setup(t) table.insert(threads, t); t:set("id", #threads) end
function init(args)
  local first, last, n, ln = tonumber(args[2]), tonumber(args[3]), tonumber(args[4]), 0
  for line in io.lines(args[1]) do
    if ln >= last then break end
    if ln >= first and (last - first < n or ln % n == id - 1) then
      local m, p, h, b = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local hs = {}
      for k, v in pairs(wrk.headers) do hs[k] = v end
      if h ~= "" then local k, v = h:match("^([^:]+): (.*)$"); hs[k] = v end
      reqs[#reqs + 1] = wrk.format(m, p, hs, b ~= "" and b or nil)
    end
    ln = ln + 1
  end
end
function request()
  i = i + 1; if i > #reqs then i = 1; wraps = wraps + 1 end; return reqs[i]
end
function done(s, lat)
  local w, e = 0, s.errors
  for _, t in ipairs(threads) do w = w + (t:get("wraps") or 0) end
  io.write(string.format('WRK {"requests":%d,"us":%d,"errors":%d,"p50":%d,"p99":%d,"wraps":%d}\n',
    s.requests, s.duration, e.connect + e.read + e.write + e.timeout + e.status,
    lat:percentile(50), lat:percentile(99), w))
end
