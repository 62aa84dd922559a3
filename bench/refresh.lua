-- Refresh token rotation: POST /token grant_type=refresh_token with HTTP Basic client
-- authentication; every answer carries the next refresh token of that grant, which goes back
-- into the queue, so each token is used once (a replay would revoke its family).
--
-- Environment (set by bench/run.sh): BENCH_WEB_BASIC (base64 id:secret of the
-- web client) and
-- BENCH_REFRESH_TOKENS, a file of refresh tokens (one per line, one per grant) from code-flow
-- exchanges made beforehand. They are dealt out to wrk's threads; each thread needs at least
-- as many as it has connections, since every connection holds one while its request is in
-- flight. An operation is a 200 carrying a refresh token; done() prints their rate.

package.path = "bench/?.lua;" .. package.path
local deal = require("deal")

local basic = os.getenv("BENCH_WEB_BASIC")
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = "Basic " .. basic,
}

local threads = {}

function setup(thread)
  deal.to_thread(thread, threads, "BENCH_REFRESH_TOKENS")
end

-- Per thread (each has its own Lua state).
local queue = {}
local first, last = 1, 0
rotations, failures, starved, samples = 0, 0, 0, 0
seed = ""

function init(args)
  queue = deal.lines(seed)
  last = #queue
end

function request()
  local token = "none-left"
  if first <= last then
    token = queue[first]
    queue[first] = nil
    first = first + 1
  else
    starved = starved + 1
  end
  return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, _, body)
  if status == 200 then
    local next_token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if next_token then
      last = last + 1
      queue[last] = next_token
      rotations = rotations + 1
      return
    end
  end
  failures = failures + 1
  if samples < 3 then
    samples = samples + 1
    io.stderr:write("refresh.lua: unexpected response " .. status .. " " .. body:sub(1, 200) .. "\n")
  end
end

function done(summary, latency, requests)
  local total, total_failures, total_starved = 0, 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("rotations")
    total_failures = total_failures + thread:get("failures")
    total_starved = total_starved + thread:get("starved")
  end
  io.write(string.format("ops: %d rotations (%.0f/s), %d unexpected responses, %d requests without a token\n",
    total, total / (summary.duration / 1e6), total_failures, total_starved))
end
