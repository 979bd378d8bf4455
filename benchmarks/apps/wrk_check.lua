-- wrk script of benchmarks/peers.py: sends one request over and over and counts the bad
-- answers (a status other than the expected one, or a body without the expected text).
--
--   wrk ... -s wrk_check.lua URL -- METHOD STATUS EXPECTED BODY [HEADER ...]
--
-- EXPECTED and BODY may be empty; each HEADER is "Name: value". When wrk is done, one line
-- goes to stdout: "PEERS_JSON {...}" (requests, timed microseconds, latency percentiles
-- in microseconds, bad answers, socket errors), then "PEERS_FIRST_BAD ..." when there
-- was a bad answer.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = args[1]
  expect_status = tonumber(args[2])
  expect_text = args[3]
  if args[4] ~= "" then
    wrk.body = args[4]
  end
  for i = 5, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    wrk.headers[name] = value
  end
  bad = 0
  first_bad = ""
end

function response(status, headers, body)
  if status ~= expect_status
      or (expect_text ~= "" and not string.find(body, expect_text, 1, true)) then
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body, 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local total, first = 0, ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
    if first == "" then
      first = thread:get("first_bad")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'PEERS_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"bad": %d, "socket_errors": %d, "status_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    total, e.connect + e.read + e.write + e.timeout, e.status))
  if first ~= "" then
    io.write("PEERS_FIRST_BAD ", (string.gsub(first, "[\r\n]", " ")), "\n")
  end
end
