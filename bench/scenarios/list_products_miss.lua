-- GET /api/v1/products?limit=20&min_price=N with N = 0, 1, 2, ... : every
-- product costs at least 1,000,000 (bench/seed_catalog.py), so each request
-- asks for the same first page under a URL never asked before, which the
-- catalog's response cache cannot have: it reads the version, runs the
-- list query and the count, renders, and stores the page.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local n = 0

function request()
  n = n + 1
  return wrk.format("GET", "/api/v1/products?limit=20&min_price=" .. (n % 999999))
end
