-- POST /graphql: the query that asks for what GET /api/v1/posts?limit=20
-- answers (issue #18: within 0.7 x of that route), anonymous like it.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"{ posts(limit: 20) { total limit offset items { id slug title description body tags author { id username } commentCount favoritesCount createdAt updatedAt } } }"}'
