-- wrk script for bench/run.py. BENCH_KIND picks the request:
--   read     GET /v1/customers/{id}?purpose=order_confirmation       (ids from BENCH_KEYS_FILE)
--   partner  GET /v1/partner/customers/{id}?purpose=order_fulfillment (assigned ids)
--   search   POST /v1/customers/search {"phone": ..., "purpose": "order_confirmation"}
--   audit    GET /v1/audit/events?limit=50
--   create   POST /v1/customers, a fresh fake customer (example.com email, unique per request)
--   healthz  GET /healthz (the server's ceiling: the read kinds are reported as a share of it)
-- BENCH_TOKEN is the bearer token. done() prints one line "BENCH_JSON {...}" for the harness.

local kind = os.getenv("BENCH_KIND")
local keys = {}
local counter = 0
local salt = 0

function init(args)
  local file = os.getenv("BENCH_KEYS_FILE")
  if file ~= nil and #file > 0 then
    for line in io.lines(file) do
      if #line > 0 then
        keys[#keys + 1] = line
      end
    end
  end
  -- Each wrk thread has its own Lua state: seed each differently.
  local addr = tonumber(tostring(keys):match("0x(%x+)") or "0", 16) or 0
  math.randomseed(os.time() + addr % 1000003)
  salt = math.random(1, 2000000000)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
  wrk.headers["Content-Type"] = "application/json"
end

local function pick()
  return keys[math.random(#keys)]
end

function request()
  if kind == "read" then
    return wrk.format("GET", "/v1/customers/" .. pick() .. "?purpose=order_confirmation")
  elseif kind == "partner" then
    return wrk.format("GET", "/v1/partner/customers/" .. pick() .. "?purpose=order_fulfillment")
  elseif kind == "search" then
    return wrk.format("POST", "/v1/customers/search",
      nil, '{"phone": "' .. pick() .. '", "purpose": "order_confirmation"}')
  elseif kind == "audit" then
    return wrk.format("GET", "/v1/audit/events?limit=50")
  elseif kind == "healthz" then
    return wrk.format("GET", "/healthz")
  elseif kind == "create" then
    counter = counter + 1
    local body = string.format(
      '{"full_name": "Nguyen Van Mau", "phone": "090%07d", "email": '
        .. '"bench.%d.%d@example.com", "address": "So 1 Duong Vi Du, Ha Noi", '
        .. '"consents": {"processing": true, "marketing": false}, "policy_version": "2024-01"}',
      counter % 10000000, salt, counter)
    return wrk.format("POST", "/v1/customers", nil, body)
  end
  error("unknown BENCH_KIND " .. tostring(kind))
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
