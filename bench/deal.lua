-- Deals the lines of a file (refresh tokens, DPoP proofs: values each used once) to wrk's
-- threads: thread k of n gets lines k, k + n, k + 2n... A module for refresh.lua and dpop.lua,
-- loaded with require from the repository root (where bench/run.sh runs wrk).
local deal = {}
local files = {}

-- In wrk's main Lua state, from setup(thread): hands `thread` its share of the file named by
-- the environment variable `var` (read once), as the thread's global `seed`. `threads` is the
-- script's list of the threads set up so far; BENCH_THREADS is their number.
function deal.to_thread(thread, threads, var)
  local all = files[var]
  if not all then
    all = {}
    for line in io.lines(os.getenv(var)) do
      if line ~= "" then all[#all + 1] = line end
    end
    files[var] = all
  end
  table.insert(threads, thread)
  local n = tonumber(os.getenv("BENCH_THREADS") or "1")
  local mine = {}
  for i = #threads, #all, n do
    mine[#mine + 1] = all[i]
  end
  thread:set("seed", table.concat(mine, "\n"))
end

-- In a thread's Lua state, from init(): the thread's share as a list.
function deal.lines(seed)
  local out = {}
  for line in seed:gmatch("[^\n]+") do
    out[#out + 1] = line
  end
  return out
end

return deal
