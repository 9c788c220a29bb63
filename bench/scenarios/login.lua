-- POST /api/v1/auth/login as JSON with the seeded user's credentials. Every
-- request verifies a bcrypt hash (cost 12 in development, ~0.25 s of CPU),
-- creates a session and a refresh token, and signs an access token.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

wrk.method = "POST"
wrk.path = "/api/v1/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}',
  os.getenv("BENCH_USERNAME") or "bench", os.getenv("BENCH_PASSWORD") or "BenchPassw0rd")
