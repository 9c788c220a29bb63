-- POST /api/v1/orders for one unit of a product, cycling through the seeded
-- products (BENCH_PRODUCT_IDS, one per line): the price copied from the
-- catalog, the stock reserved by a conditional update and the catalog
-- version bumped, in one transaction.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

-- As in create_item.lua: a header table would drop -H Authorization.
wrk.headers["Content-Type"] = "application/json"

local ids = {}
local n = 0
local i = 0

function init(args)
  for line in io.lines(os.getenv("BENCH_PRODUCT_IDS")) do
    if line ~= "" then
      n = n + 1
      ids[n] = line
    end
  end
  assert(n > 0, "no product ids in BENCH_PRODUCT_IDS")
end

function request()
  i = i % n + 1
  local body = '{"items":[{"product_id":"' .. ids[i] .. '","quantity":1}]}'
  return wrk.format("POST", "/api/v1/orders", nil, body)
end
