-- GraphQL beside REST: the same reads as bench/run's R1 (one item by id) and R3 (a parent with
-- its children), through /rest/v1 (r1, r3) or /graphql/v1 (g1, g3). BENCH_WORKLOAD picks one.
package.path = (os.getenv("BENCH_LUA") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")
local w = os.getenv("BENCH_WORKLOAD")
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

local G1 = 'query($id: BigInt!) { itemsCollection(filter: {id: {eq: $id}}) { edges { node { id category name price created_at } } } }'
local G3 = 'query($id: BigInt!) { parentsCollection(filter: {id: {eq: $id}}) { edges { node { id name childrenCollection { edges { node { id parent_id name } } } } } } }'

local function gql(h, query, id)
  h["Content-Type"] = "application/json"
  return wrk.format("POST", "/graphql/v1", h, '{"query":"' .. query .. '","variables":{"id":' .. id .. '}}')
end

function request()
  local h = c.headers()
  local id = math.random(1, c.rows)
  if w == "r1" then
    return wrk.format("GET", "/rest/v1/items?id=eq." .. id, h)
  elseif w == "r3" then
    return wrk.format("GET", "/rest/v1/parents?select=*,children(*)&id=eq." .. ((id % 10000) + 1), h)
  elseif w == "g1" then
    return gql(h, G1, id)
  elseif w == "g3" then
    return gql(h, G3, (id % 10000) + 1)
  end
end

local bad = 0
function response(status, headers, body)
  -- A GraphQL error answers 200 too: count it as an error.
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
    if bad == 1 then io.stderr:write("unexpected answer: " .. status .. " " .. body .. "\n") end
  end
end

done = c.done
