-- wrk workload: customers placing one-line orders for random products.
-- Reads tokens (one access token per line) and product ids (one per line) from the files named by
-- the environment variables TOKENS and PRODUCTS; counts answers by status class so 5xx can be reported. QUANTITY, when
-- set, is every order's quantity (else 1 to 3 at random).
local tokens, products = {}, {}
local quantity = tonumber(os.getenv("QUANTITY") or "")
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
for line in io.lines(os.getenv("PRODUCTS")) do products[#products + 1] = line end

local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  created, conflicts, client_errors, server_errors, others = 0, 0, 0, 0, 0
  math.randomseed(os.time() + id)
  -- ACKS: a file prefix; each thread writes there the id of every order it was answered 201 for.
  if os.getenv("ACKS") then acks = io.open(os.getenv("ACKS") .. id, "w") end
end

function request()
  local token = tokens[math.random(#tokens)]
  local product = products[math.random(#products)]
  local body = '{"order_items":[{"product":"' .. product .. '","quantity":' .. (quantity or math.random(1, 3)) .. '}]}'
  return wrk.format("POST", "/api/orders/orders/", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    if acks then
      acks:write((body:match('"id"%s*:%s*"([0-9a-f-]+)"') or "?") .. "\n")
      acks:flush()
    end
  elseif status == 409 then conflicts = conflicts + 1
  elseif status >= 500 then server_errors = server_errors + 1
  elseif status >= 400 then client_errors = client_errors + 1
  else others = others + 1 end
end

function done(summary, latency, requests)
  local totals = { created = 0, conflicts = 0, client_errors = 0, server_errors = 0, others = 0 }
  for _, thread in ipairs(threads) do
    for key in pairs(totals) do totals[key] = totals[key] + thread:get(key) end
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("orders_created=%d conflicts_409=%d other_4xx=%d server_5xx=%d other=%d\n",
    totals.created, totals.conflicts, totals.client_errors, totals.server_errors, totals.others))
  io.write(string.format("orders_per_second=%.1f requests_per_second=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f socket_errors=%d\n",
    totals.created / seconds, summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
