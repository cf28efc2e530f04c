-- wrk workload: customers logging in (POST /api/identity/token/) as one of CUSTOMERS customers named storm1..N with
-- the password storm-pass-N, so the login throttle (per username and address) never trips; counts the answers.
local customers = tonumber(os.getenv("CUSTOMERS") or "200")
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  ok, refused = 0, 0
  math.randomseed(os.time() + id)
end

function request()
  local i = math.random(customers)
  return wrk.format("POST", "/api/identity/token/", { ["Content-Type"] = "application/json" },
    '{"username":"storm' .. i .. '","password":"storm-pass-' .. i .. '"}')
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else refused = refused + 1 end
end

function done(summary, latency, requests)
  local logins, others = 0, 0
  for _, thread in ipairs(threads) do
    logins = logins + thread:get("ok")
    others = others + thread:get("refused")
  end
  io.write(string.format("logins=%d not_200=%d logins_per_second=%.1f p99_ms=%.1f\n",
    logins, others, logins / (summary.duration / 1e6), latency:percentile(99) / 1000))
end
