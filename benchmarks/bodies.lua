-- wrk body script: wrk -s benchmarks/bodies.lua URL [-- BODIES_FILE]
--
-- With BODIES_FILE (one JSON request body per line) every request is a POST of the next body
-- in turn; without it, a GET of the URL's path. Requests are formatted once in init(), so the
-- per-request cost in wrk is the same for every target. done() prints one line starting with
-- "WRK_JSON " that benchmarks/wrk.py parses (latencies in microseconds).

local prepared = {}
local cursor = 0

function init(args)
  local path = args[1]
  if path == nil then
    prepared[1] = wrk.format("GET")
    return
  end
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(path) do
    if #line > 0 then
      prepared[#prepared + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  if #prepared == 0 then
    error("no request bodies in " .. path)
  end
end

function request()
  cursor = cursor % #prepared + 1
  return prepared[cursor]
end

-- the WRK_JSON line; ``extra`` adds fields to its object (statuses.lua's counts)
function report(summary, latency, extra)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "mean_us": %.3f, '
      .. '"max_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d%s}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), extra
  ))
end

function done(summary, latency, _)
  report(summary, latency, "")
end
