-- wrk script for `cargo bench --bench charges -- --wrk`: POST /api/v1/charges
-- back to back, KES 1 each, every request under its own Idempotency-Key,
-- cycling through the allowances listed (one per line) in $ALLOWANCES.
local counter = 0
thread_id = 0  -- a global: setup() gives each thread its own with thread:set

function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end

local allowances = {}
for line in io.lines(os.getenv("ALLOWANCES")) do
  allowances[#allowances + 1] = line
end
local key = os.getenv("KEY")
local n = 0

function request()
  n = n + 1
  local allowance = allowances[(n * 7919 + thread_id) % #allowances + 1]
  local body = '{"allowance_id":"' .. allowance .. '","amount_minor":100,"description":"one article"}'
  return wrk.format("POST", "/api/v1/charges", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
    ["Idempotency-Key"] = string.format("wrk-%d-%d", thread_id, n),
  }, body)
end

-- No response() callback: wrk would then parse every response's headers and
-- body into Lua for it, on the same two cores as the server. A status of 400
-- or more is counted by wrk itself (summary.errors.status, in "errors"), and
-- the bench counts the charges the ledger holds.

function done(summary, latency, requests)
  io.write(string.format("WRK requests %d seconds %.3f p50_ms %.2f p99_ms %.2f max_ms %.2f errors %d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
