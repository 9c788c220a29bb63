-- POST /api/v1/items with a small JSON body (bearer token from -H); each
-- request inserts a row, so this is the write path: validation, one INSERT
-- in a transaction, a 201 with Location and ETag.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

-- wrk.format() falls back to wrk.headers (which holds -H Authorization) only
-- when given no header table, so the content type goes there too.
wrk.headers["Content-Type"] = "application/json"

local counter = 0

function request()
  counter = counter + 1
  local body = string.format(
    '{"title":"Bench item %d","description":"Created by the create_item scenario."}', counter)
  return wrk.format("POST", "/api/v1/items", nil, body)
end
