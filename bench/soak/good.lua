-- The soak's good load: a weighted mix of REST reads, writes and RPC, public storage
-- downloads and function calls, all as one authenticated user. Every answer is counted by
-- status; done() prints one SOAK_JSON line for bench/soak/run to parse.
local apikey = os.getenv("SOAK_APIKEY")
local token = os.getenv("SOAK_TOKEN")
local rows = tonumber(os.getenv("SOAK_ROWS") or "100000")
local files = tonumber(os.getenv("SOAK_FILES") or "64")

-- kind, weight (per 100 requests)
local mix = {
  { "r1", 38 }, { "r2", 10 }, { "r3", 10 }, { "w1", 14 }, { "w3", 4 },
  { "rpc", 8 }, { "storage", 14 }, { "function", 2 },
}
local cumulative, total = {}, 0
for i, m in ipairs(mix) do
  total = total + m[2]
  cumulative[i] = { m[1], total }
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

statuses = {}
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

local function headers(json)
  local h = { ["apikey"] = apikey, ["Authorization"] = "Bearer " .. token }
  if json then
    h["Content-Type"] = "application/json"
    h["Prefer"] = "return=minimal"
  end
  return h
end

local function pick()
  local r = math.random(1, total)
  for _, c in ipairs(cumulative) do
    if r <= c[2] then return c[1] end
  end
  return "r1"
end

function request()
  local kind = pick()
  local id = math.random(1, rows)
  if kind == "r1" then
    return wrk.format("GET", "/rest/v1/items?id=eq." .. id, headers(false))
  elseif kind == "r2" then
    return wrk.format("GET", "/rest/v1/items?category=eq." .. (id % 100) .. "&order=id.desc&limit=25", headers(false))
  elseif kind == "r3" then
    return wrk.format("GET", "/rest/v1/parents?select=*,children(*)&id=eq." .. ((id % 10000) + 1), headers(false))
  elseif kind == "w1" then
    return wrk.format("POST", "/rest/v1/events", headers(true), '{"kind":"soak","payload":{"n":' .. id .. '}}')
  elseif kind == "w3" then
    return wrk.format("PATCH", "/rest/v1/items?id=eq." .. id, headers(true), '{"price":2.5}')
  elseif kind == "rpc" then
    local h = headers(false)
    h["Content-Type"] = "application/json"
    return wrk.format("POST", "/rest/v1/rpc/soak_price_window", h, '{"start_id":' .. id .. '}')
  elseif kind == "storage" then
    return wrk.format("GET", "/storage/v1/object/public/soak/f-" .. (id % files) .. ".bin", { ["apikey"] = apikey })
  else
    return wrk.format("POST", "/functions/v1/echo", headers(false), '{"n":' .. id .. '}')
  end
end

function response(status, hdrs, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses") or {}
    for k, v in pairs(s) do merged[k] = (merged[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%s": %d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'SOAK_JSON {"n": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.timeout, table.concat(parts, ", ")))
end
