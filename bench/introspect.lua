-- POST of BENCH_TOKEN to the introspection endpoint wrk is given (Ostiary's /introspect;
-- node-oidc-provider's /token/introspection in bench/reference/run.sh), HTTP Basic from BENCH_BASIC.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
wrk.body = "token=" .. os.getenv("BENCH_TOKEN")
