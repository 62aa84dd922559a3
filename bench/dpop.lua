-- POST /token, grant_type=client_credentials with HTTP Basic (BENCH_BASIC) and a DPoP proof
-- (RFC 9449) in every request: the client_credentials phase plus one proof check and the
-- one-time use of its jti.
--
-- Environment (set by bench/run.sh): BENCH_DPOP_PROOFS, a file of fresh proofs (one per
-- line, made by bench/dpop_proofs.py; each is accepted once), dealt out to wrk's threads as
-- refresh.lua deals its tokens, and BENCH_THREADS. An operation is a 200 whose token_type
-- is DPoP; done() prints their rate. A thread that runs out of proofs sends none, and counts
-- those requests as starved (make more proofs, or a shorter phase).

package.path = "bench/?.lua;" .. package.path
local deal = require("deal")

local basic = os.getenv("BENCH_BASIC")

local threads = {}

function setup(thread)
  deal.to_thread(thread, threads, "BENCH_DPOP_PROOFS")
end

local proofs = {}
local next_proof = 1
bound, failures, starved, samples = 0, 0, 0, 0
seed = ""

function init(args)
  proofs = deal.lines(seed)
  seed = nil
end

local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = "Basic " .. basic,
}

function request()
  local proof = proofs[next_proof]
  if proof then
    proofs[next_proof] = nil
    next_proof = next_proof + 1
  else
    starved = starved + 1
  end
  headers["DPoP"] = proof
  return wrk.format("POST", "/token", headers, "grant_type=client_credentials")
end

function response(status, _, body)
  if status == 200 and body:find('"token_type":"DPoP"', 1, true) then
    bound = bound + 1
    return
  end
  failures = failures + 1
  if samples < 3 then
    samples = samples + 1
    io.stderr:write("dpop.lua: unexpected response " .. status .. " " .. body:sub(1, 200) .. "\n")
  end
end

function done(summary, latency, requests)
  local total, total_failures, total_starved = 0, 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("bound")
    total_failures = total_failures + thread:get("failures")
    total_starved = total_starved + thread:get("starved")
  end
  io.write(string.format("ops: %d bound tokens (%.0f/s), %d unexpected responses, %d requests without a proof\n",
    total, total / (summary.duration / 1e6), total_failures, total_starved))
end
