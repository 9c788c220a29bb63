-- GET /api/v1/items/{id}, cycling through the seeded ids (BENCH_ITEM_IDS, one
-- per line) so every request reads a different row.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local ids = {}
local n = 0
local i = 0

function init(args)
  for line in io.lines(os.getenv("BENCH_ITEM_IDS")) do
    if line ~= "" then
      n = n + 1
      ids[n] = line
    end
  end
  assert(n > 0, "no item ids in BENCH_ITEM_IDS")
end

function request()
  i = i % n + 1
  return wrk.format("GET", "/api/v1/items/" .. ids[i])
end
