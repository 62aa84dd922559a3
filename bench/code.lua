-- The authorization code flow of a signed-in user, as one operation of two requests:
--   GET /authorize (response_type=code, scope openid, PKCE S256, the session cookie) -> 303
--   to the client with a code, then POST /token (grant_type=authorization_code, the code,
--   the redirect URI and the PKCE verifier, HTTP Basic client authentication) -> 200.
-- The client skips consent. One fixed PKCE pair serves every request: each code is new.
--
-- Environment (set by bench/run.sh): BENCH_CLIENT_ID and BENCH_WEB_BASIC (base64 id:secret) of
-- the web client, BENCH_COOKIE (the Cookie header of the signed-in browser),
-- BENCH_REDIRECT_URI, BENCH_SCOPE (default "openid"), BENCH_AUTHORIZE_PATH (the authorization
-- endpoint's path, default "/authorize"; bench/reference/run.sh sets node-oidc-provider's "/auth").
--
-- wrk calls request() when a connection may send and response() when one answered, without
-- saying which connection: codes go into a queue shared by the thread's connections, and a
-- connection redeems a queued code if there is one, else asks for a new one. An operation is
-- a 200 from /token; the summary printed by done() counts them per second.

local client_id = os.getenv("BENCH_CLIENT_ID")
local basic = os.getenv("BENCH_WEB_BASIC")
local cookie = os.getenv("BENCH_COOKIE")
local redirect_uri = os.getenv("BENCH_REDIRECT_URI") or "https://app.example.com/cb"
local scope = os.getenv("BENCH_SCOPE") or "openid"

-- RFC 7636 appendix B.
local verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
local challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local authorize_path = (os.getenv("BENCH_AUTHORIZE_PATH") or "/authorize")
  .. "?response_type=code&client_id=" .. urlencode(client_id)
  .. "&redirect_uri=" .. urlencode(redirect_uri)
  .. "&scope=" .. urlencode(scope)
  .. "&state=bench"
  .. "&code_challenge=" .. challenge
  .. "&code_challenge_method=S256"

local authorize_headers = { ["Cookie"] = cookie }
local token_headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = "Basic " .. basic,
}
local token_body_prefix = "grant_type=authorization_code&redirect_uri=" .. urlencode(redirect_uri)
  .. "&code_verifier=" .. verifier .. "&code="

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Per thread (each has its own Lua state).
local codes = {}
local first, last = 1, 0
tokens, codes_issued, failures, samples = 0, 0, 0, 0

function request()
  if first <= last then
    local code = codes[first]
    codes[first] = nil
    first = first + 1
    return wrk.format("POST", "/token", token_headers, token_body_prefix .. code)
  end
  return wrk.format("GET", authorize_path, authorize_headers)
end

function response(status, headers, body)
  if status == 303 then
    local location = headers["location"] or headers["Location"] or ""
    local code = location:match("[?&]code=([^&#]+)")
    if code then
      last = last + 1
      codes[last] = code
      codes_issued = codes_issued + 1
      return
    end
  elseif status == 200 and body:find('"access_token"', 1, true) then
    tokens = tokens + 1
    return
  end
  failures = failures + 1
  if samples < 3 then
    samples = samples + 1
    io.stderr:write("code.lua: unexpected response " .. status .. " "
      .. (headers["location"] or headers["Location"] or "") .. " " .. body:sub(1, 200) .. "\n")
  end
end

function done(summary, latency, requests)
  local total_tokens, total_codes, total_failures = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_tokens = total_tokens + thread:get("tokens")
    total_codes = total_codes + thread:get("codes_issued")
    total_failures = total_failures + thread:get("failures")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("ops: %d token responses (%.0f/s), %d codes issued, %d unexpected responses\n",
    total_tokens, total_tokens / seconds, total_codes, total_failures))
end
