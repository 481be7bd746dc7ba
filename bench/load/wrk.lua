-- The bench tool's requests for wrk (bench/load/wrk.go runs it): writes to
-- a new key each, reads of random preloaded keys, or GETs of a hello URL,
-- set up from HB_* environment variables; one JSON result line at the end.

local target = os.getenv("HB_TARGET")    -- node, distributor or hello
local base = os.getenv("HB_BASE") or ""  -- path prefix of the server's API
local hello = os.getenv("HB_HELLO") or "/"
local prefix = os.getenv("HB_PREFIX")
local keys = tonumber(os.getenv("HB_KEYS")) or 1
local value = os.getenv("HB_VALUE") or ""
local reads = tonumber(os.getenv("HB_READS")) or 0
local query = os.getenv("HB_QUERY") or ""
local quantiles = tonumber(os.getenv("HB_QUANTILES")) or 1000
local seed = tonumber(os.getenv("HB_SEED")) or 1
local phase = os.getenv("HB_PHASE") or "measure"

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(seed * 1000 + id)
  writer = prefix .. "-" .. phase .. "-t" .. id .. "-"
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  if target == "hello" then
    return wrk.format("GET", hello)
  end
  if math.random() < reads then
    local key = prefix .. "-k" .. math.random(0, keys - 1)
    if target == "distributor" then
      return wrk.format("GET", base .. "/get/" .. key .. query)
    end
    return wrk.format("GET", base .. "/key/" .. key .. query)
  end
  counter = counter + 1
  local key = writer .. counter
  if target == "distributor" then
    return wrk.format("POST", base .. "/set", headers, '{"clave":"' .. key .. '","valor":"' .. value .. '"}')
  end
  return wrk.format("POST", base .. "/key", headers, '{"' .. key .. '":"' .. value .. '"}')
end

function done(summary, latency, requests)
  local q = {}
  for i = 1, quantiles do
    q[i] = string.format("%.1f", latency:percentile(100 * i / quantiles))
  end
  io.write(string.format(
    'HRAFTD-BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeout_errors":%d,"mean_us":%.1f,"quantiles_us":[%s]}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout, latency.mean,
    table.concat(q, ",")))
end
