-- wrk script for bench/audit_bench.py: GET /v1/customers/{random id}?purpose=order_confirmation
-- as an employee. BENCH_IDS_FILE holds one customer id a line; BENCH_TOKEN is the bearer token.
-- done() prints one line "BENCH_JSON {...}" that the harness parses.

local ids = {}

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS_FILE")) do
    if #line > 0 then
      ids[#ids + 1] = line
    end
  end
  -- Each wrk thread has its own Lua state: seed each differently.
  local salt = tonumber(tostring(ids):match("0x(%x+)") or "0", 16) or 0
  math.randomseed(os.time() + salt % 1000003)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/v1/customers/" .. id .. "?purpose=order_confirmation")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %.0f, "duration_us": %.0f, "non2xx": %.0f, "connect_errors": %.0f, '
      .. '"read_errors": %.0f, "write_errors": %.0f, "timeouts": %.0f, "p50_us": %.0f, '
      .. '"p95_us": %.0f, "p99_us": %.0f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)
  ))
end
