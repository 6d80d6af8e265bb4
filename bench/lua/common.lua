-- Shared by every workload: headers from the environment, a random id, and a JSON summary
-- printed by done() for bench/run to parse.
local M = {}
M.rows = tonumber(os.getenv("BENCH_ROWS") or "100000")
function M.headers()
  local h = { ["apikey"] = os.getenv("BENCH_APIKEY") }
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then h["Authorization"] = "Bearer " .. token end
  return h
end
function M.done(summary, latency)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format('BENCH_JSON {"n": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
return M
