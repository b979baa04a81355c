-- wrk script that also sorts every answer: wrk -s benchmarks/statuses.lua URL [-- BODIES_FILE]
--
-- Requests as in bodies.lua: with BODIES_FILE (one JSON body per line) a POST of each body in
-- turn, without it a GET of the URL's path. Each answer is counted under its status, and each
-- non-200 also under the "error" code of its JSON body ("none" without one) and whether it
-- carried Retry-After: "503 overloaded retry-after", say. done() prints the line bodies.lua
-- prints, with these counts added as "statuses", summed over wrk's threads.

-- bodies.lua, beside this file: its requests and its report line
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "bodies.lua")

local threads = {}
counts = {}

function setup(thread)
  threads[#threads + 1] = thread
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
  report(summary, latency, ', "statuses": {' .. table.concat(parts, ", ") .. "}")
end
