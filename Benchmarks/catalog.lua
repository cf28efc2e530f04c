-- wrk workload: one catalog query repeated (PATH env var), to compare cached and uncached latency.
local path = os.getenv("CATALOG_PATH") or "/api/catalog/products/"
function request() return wrk.format("GET", path) end
function done(summary, latency, requests)
  io.write(string.format("requests_per_second=%.1f p50_ms=%.3f p99_ms=%.3f non_2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
