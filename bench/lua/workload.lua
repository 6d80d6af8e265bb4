-- One script for every HTTP workload; BENCH_WORKLOAD picks it.
package.path = (os.getenv("BENCH_LUA") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")
local w = os.getenv("BENCH_WORKLOAD")
local quota = tonumber(os.getenv("BENCH_QUOTA") or "0") -- per thread, 0 = run for the duration
local done_here = 0
-- A2: each thread holds refresh tokens; every answer hands back the next one (rotation).
tokens = tokens or {}
local next_setup = 1
function setup(thread)
  local all = {}
  for t in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do table.insert(all, t) end
  local mine = {}
  -- two threads: odd tokens to the first, even to the second
  for i = next_setup, #all, 2 do table.insert(mine, all[i]) end
  next_setup = next_setup + 1
  thread:set("tokens", mine)
end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

function request()
  local h = c.headers()
  local id = math.random(1, c.rows)
  if w == "r1" then
    return wrk.format("GET", "/rest/v1/items?id=eq." .. id, h)
  elseif w == "r2" then
    return wrk.format("GET", "/rest/v1/items?category=eq." .. (id % 100) .. "&order=id.desc&limit=25", h)
  elseif w == "r3" then
    return wrk.format("GET", "/rest/v1/parents?select=*,children(*)&id=eq." .. ((id % 10000) + 1), h)
  elseif w == "w1" or w == "w2" then
    h["Content-Type"] = "application/json"
    h["Prefer"] = "return=minimal"
    return wrk.format("POST", "/rest/v1/events", h, '{"kind":"bench","payload":{"n":' .. id .. '}}')
  elseif w == "w3" then
    h["Content-Type"] = "application/json"
    h["Prefer"] = "return=minimal"
    return wrk.format("PATCH", "/rest/v1/items?id=eq." .. id, h, '{"price":1.5}')
  elseif w == "a2" then
    h["Content-Type"] = "application/json"
    local t = table.remove(tokens) or "exhausted"
    return wrk.format("POST", "/auth/v1/token?grant_type=refresh_token", h, '{"refresh_token":"' .. t .. '"}')
  elseif w == "a1" then
    h["Content-Type"] = "application/json"
    return wrk.format("POST", "/auth/v1/token?grant_type=password", h, os.getenv("BENCH_BODY"))
  end
end

function response(status, headers, body)
  if w == "a2" then
    local t = string.match(body, '"refresh_token":"([^"]+)"')
    if t then table.insert(tokens, t) end
  end
  if quota > 0 then
    done_here = done_here + 1
    if done_here >= quota then wrk.thread:stop() end
  end
end

done = c.done
