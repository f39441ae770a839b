-- wrk script: non-PIN USSD hops. Each connection alternates a first hop of a
-- new session (text "") and the "My account" hop (text "4") of that session.
-- Phones cycle through mkoba-load's numbers 254710000000 + i (two threads).
local counter = 0
thread_id = 0  -- a global: setup() gives each thread its own with thread:set
local session, phone

function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end

local n = 0
local phones = tonumber(os.getenv("PHONES") or "100")
local token = os.getenv("TOKEN") or "bench-token"

function request()
  n = n + 1
  local text
  if n % 2 == 1 then
    session = string.format("wrk-%d-%d", thread_id, n)
    -- Session k of thread t dials from number 2k + t: with -t2 the threads
    -- share out the numbers and every one is used before any repeats.
    phone = string.format("2547%08d", 10000000 + ((math.floor(n / 2) * 2 + thread_id) % phones))
    text = ""
  else
    text = "4"
  end
  local body = "sessionId=" .. session .. "&serviceCode=%2A384%23&phoneNumber=%2B" .. phone .. "&networkCode=63902&text=" .. text
  return wrk.format("POST", "/webhooks/africastalking/ussd?token=" .. token,
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

local bad = 0
function response(status, headers, body)
  if status ~= 200 or string.sub(body, 1, 4) ~= "CON " then bad = bad + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("hops/s %.0f  p50 %.2f ms  p99 %.2f ms  max %.2f ms  errors %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
