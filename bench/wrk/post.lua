-- wrk script: POSTs a chat body read from a file.
--   wrk -s post.lua URL -- BODY_FILE [API_KEY] [unique|fixed] [RUN_TAG]
-- "unique" (the default) replaces the @N@ marker with RUN_TAG, the thread and a
-- per-request counter, so that no request is a cache hit (RUN_TAG must differ
-- between runs: a gateway's cache outlives one wrk run); "fixed" sends the same
-- bytes every time.
-- At the end it prints one JSON line (prefixed "RESULT ") that bench/load.py reads.

local prefix, suffix, fixed_request
local counter = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[2] and args[2] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
  local mode = args[3] or "unique"
  local at = string.find(body, "@N@", 1, true)
  if mode == "fixed" or not at then
    fixed_request = wrk.format(nil, nil, nil, body)
  else
    prefix = string.sub(body, 1, at - 1) .. (args[4] or tostring(os.time())) .. "-"
      .. tostring(tid or 0) .. "-"
    suffix = string.sub(body, at + 3)
  end
end

function request()
  if fixed_request then
    return fixed_request
  end
  counter = counter + 1
  return wrk.format(nil, nil, nil, prefix .. counter .. suffix)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
