-- wrk script that also sorts every answer: wrk -s benchmarks/statuses.lua URL [-- BODIES_FILE]
--
-- Requests as in bodies.lua: with BODIES_FILE (one JSON body per line) a POST of each body in
-- turn, without it a GET of the URL's path. Each answer is counted under its status, and each
-- non-200 also under the "error" code of its JSON body ("none" without one) and whether it
-- carried Retry-After: "503 overloaded retry-after", say. done() prints the line bodies.lua
-- prints, with these counts added as "statuses", summed over wrk's threads.

local prepared = {}
local cursor = 0
local threads = {}
counts = {}

function setup(thread)
  threads[#threads + 1] = thread
end

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

function response(status, headers, body)
  local key = tostring(status)
  if status ~= 200 then
    local code = body and body:match('"error"%s*:%s*"([%w_]+)"') or "none"
    local retry = headers["Retry-After"] or headers["retry-after"]
    key = key .. " " .. code .. (retry and " retry-after" or "")
  end
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, _)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("counts")) do
      total[key] = (total[key] or 0) + count
    end
  end
  local parts = {}
  for key, count in pairs(total) do
    parts[#parts + 1] = string.format('"%s": %d', key, count)
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "mean_us": %.3f, '
      .. '"max_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    table.concat(parts, ", ")
  ))
end
