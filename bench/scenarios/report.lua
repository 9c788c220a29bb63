-- Shared by every scenario: at the end of a run, writes one JSON object with
-- throughput, latency percentiles (ms) and errors to the file named by
-- BENCH_OUT (the wrk text output is still printed as usual).
--
-- Used alone for plain GETs (`wrk -s report.lua -H 'Authorization: ...' URL`),
-- or loaded by the other scenarios with dofile(BENCH_LUA_DIR .. "/report.lua").

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local function ms(us) return us / 1000 end
  local out = string.format(
    '{"requests": %d, "duration_s": %.3f, "rps": %.2f, "bytes": %d, '
      .. '"latency_ms": {"min": %.3f, "mean": %.3f, "p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f}, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}}\n',
    summary.requests, seconds, summary.requests / seconds, summary.bytes,
    ms(latency.min), ms(latency.mean), ms(latency:percentile(50)), ms(latency:percentile(90)),
    ms(latency:percentile(99)), ms(latency.max),
    e.connect, e.read, e.write, e.timeout, e.status)
  local path = os.getenv("BENCH_OUT")
  if path and path ~= "" then
    local f = assert(io.open(path, "w"))
    f:write(out)
    f:close()
  else
    io.write(out)
  end
end
