-- wrk script: every request places a distinct order of 3 lines.
-- Environment: OMS_KEY (bearer key), BENCH_RUN (unique prefix), BENCH_SKUS (number of SKUs),
-- BENCH_HOT_SKU (optional: every order also wants this SKU), BENCH_RATE_PER_THREAD (optional:
-- orders/s this wrk thread offers, for measuring latency below saturation).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local counter = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  run = os.getenv("BENCH_RUN") or "bench"
  skus = tonumber(os.getenv("BENCH_SKUS") or "1000")
  hot = os.getenv("BENCH_HOT_SKU")
  rate = tonumber(os.getenv("BENCH_RATE_PER_THREAD") or "0")
  math.randomseed(tid * 7919 + os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("OMS_KEY") or "")
end

local function sku(n)
  return string.format("SKU-%05d", n)
end

function request()
  counter = counter + 1
  local a = math.random(1, skus)
  local b = (a + math.random(1, skus - 2)) % skus + 1
  local c = b % skus + 1
  if c == a then c = (c % skus) + 1 end
  local first = hot and hot or sku(a)
  local lat = 47.5 + math.random() * 7
  local lon = 6 + math.random() * 8.5
  local body = string.format(
    '{"channel":"bench","external_id":"%s-%d-%d","currency":"EUR",' ..
    '"customer":{"name":"Load Test","email":"load@example.com","phone":null},' ..
    '"shipping_address":{"name":"Load Test","line1":"Street 1","line2":null,"city":"City",' ..
    '"postal_code":"10115","country":"DE","latitude":%.4f,"longitude":%.4f},' ..
    '"lines":[{"sku":"%s","quantity":1,"unit_price":"19.90"},{"sku":"%s","quantity":2,"unit_price":"5.00"},' ..
    '{"sku":"%s","quantity":1,"unit_price":"42.00"}],"shipping_price":"4.90",' ..
    '"payment":{"provider":"sandbox","reference":"pay_bench"}}',
    run, tid, counter, lat, lon, first, sku(b), sku(c))
  return wrk.format(nil, "/orders", nil, body)
end

-- Pacing, open loop: the thread's requests follow a Poisson schedule at its rate, whatever the
-- latency. Each connection, when free, takes the schedule's next slot and waits for it, so the
-- offered load does not drop when responses slow down (as it would if every connection paused
-- after each response), and the connections do not fall into step. Only when no connection is
-- free at a slot (saturation) does the schedule restart from now instead of sending a burst.
local next_at = nil
function delay()
  if rate <= 0 then return 0 end
  local now = now_ms()
  if next_at == nil or next_at < now then next_at = now end
  next_at = next_at - math.log(1 - math.random()) * 1000 / rate
  return math.floor(next_at - now)
end

-- Every order is new: a 200 would be an idempotent replay (nothing recorded), which must not
-- count as an order placed.
not_created = 0
function response(status, headers, body)
  if status ~= 201 then not_created = not_created + 1 end
end

function done(summary, latency, requests)
  local replayed = 0
  for _, thread in ipairs(threads) do replayed = replayed + (thread:get("not_created") or 0) end
  io.write(string.format(
    'BENCH_RESULT {"not_created":%d,"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
    replayed, summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout))
end
