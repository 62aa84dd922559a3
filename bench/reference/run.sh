#!/usr/bin/env bash
# The reference for bench/run.sh: node-oidc-provider (the OpenID-certified `oidc-provider`
# package, pinned in bench/reference/package.json, default in-memory store) under the same wrk
# load and the same Lua scripts as Ostiary, with the same table. See bench/reference/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
ref=$root/bench/reference

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
PORT=${REF_PORT:-18090}
# The ID token algorithm of the web client: ES256 or RS256.
ID_TOKEN_ALG=${REF_ID_TOKEN_ALG:-ES256}
# Which phases run, as in bench/run.sh; the health baseline always does.
PHASES=${BENCH_PHASES:-token introspect code refresh}

# shellcheck source=bench/wrk.sh
source bench/wrk.sh

for tool in node npm wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

# Install the pinned package tree when it is missing or not the one package-lock.json names.
pinned=$(node -p "require('$ref/package-lock.json').packages['node_modules/oidc-provider'].version")
installed=$(node -p "try { require('$ref/node_modules/oidc-provider/package.json').version } catch { '' }")
if [ "$installed" != "$pinned" ]; then
  echo "== npm ci (oidc-provider $pinned)"
  (cd "$ref" && npm ci --silent --no-audit --no-fund)
fi

# Credentials of this run (URL-safe characters only, so HTTP Basic needs no form-encoding).
random() { node -e "process.stdout.write(require('node:crypto').randomBytes(24).toString('base64url'))"; }
export REF_PORT=$PORT REF_ID_TOKEN_ALG=$ID_TOKEN_ALG
export REF_CC_ID=bench-cc REF_CC_SECRET REF_WEB_ID=bench-web REF_WEB_SECRET
REF_CC_SECRET=$(random)
REF_WEB_SECRET=$(random)
export REF_USER_PASSWORD='bench password, not a secret'
BENCH_USER=bench
export BENCH_REDIRECT_URI=https://app.example.com/cb
export BENCH_AUTHORIZE_PATH=/auth
# RFC 7636 appendix B; code.lua uses the same pair.
PKCE_VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
PKCE_CHALLENGE=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
export BENCH_BASIC BENCH_CLIENT_ID=$REF_WEB_ID BENCH_CLIENT_SECRET=$REF_WEB_SECRET BENCH_WEB_BASIC
BENCH_BASIC=$(printf '%s:%s' "$REF_CC_ID" "$REF_CC_SECRET" | base64 -w0)
BENCH_WEB_BASIC=$(printf '%s:%s' "$REF_WEB_ID" "$REF_WEB_SECRET" | base64 -w0)

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

base="http://127.0.0.1:$PORT"
if curl -fs "$base/healthz" >/dev/null 2>&1; then
  echo "something already answers on port $PORT (REF_PORT)" >&2
  exit 1
fi
# REF_NODE_ARGS: extra arguments for the server's node (e.g. --cpu-prof --cpu-prof-dir=DIR).
# shellcheck disable=SC2086
NODE_ENV=production node ${REF_NODE_ARGS:-} "$ref/server.mjs" >"$work/server.log" 2>&1 &
server_pid=$!
measured_pid=$server_pid
wait_until_ready "$base/healthz"
# Idle: started and answering, nothing served yet but the readiness probe.
sleep 1
idle_memory "$server_pid"

# jwt_part TOKEN N: the decoded JSON of part N (1 header, 2 payload) of a compact JWS.
jwt_part() {
  node -e "process.stdout.write(Buffer.from(process.argv[1].split('.')[process.argv[2] - 1], 'base64url').toString())" "$1" "$2"
}

# json_field FIELD: the string value of FIELD in the JSON object on stdin.
json_field() {
  node -e "let s = ''; process.stdin.on('data', (d) => s += d).on('end', () => { const v = s ? JSON.parse(s)[process.argv[1]] : undefined; process.stdout.write(v === undefined ? '' : String(v)); })" "$1"
}

# authorize_path SCOPE: the authorization request of code.lua (PKCE S256, the web client); with
# offline_access also prompt=consent, without which node-oidc-provider drops offline_access
# (OpenID Connect Core 11; Ostiary does not ask for it, and code.lua does not ask for
# offline_access).
authorize_path() {
  printf '%s?response_type=code&client_id=%s&redirect_uri=%s&scope=%s&state=bench&code_challenge=%s&code_challenge_method=S256' \
    "$BENCH_AUTHORIZE_PATH" "$BENCH_CLIENT_ID" "https%3A%2F%2Fapp.example.com%2Fcb" "${1// /%20}" "$PKCE_CHALLENGE"
  [[ " $1 " == *" offline_access "* ]] && printf '&prompt=consent'
  return 0
}

# get URL: GET with the browser's cookie jar; prints "status location".
get() {
  curl -sS -o /dev/null -w '%{http_code} %{redirect_url}\n' -c "$jar" -b "$jar" "$1"
}

# sign_in: signs BENCH_USER in once, as a browser would: the authorization request redirects
# to the interaction, whose page has the login form; posting it resumes the authorization,
# which sets the session cookie and redirects to the client with a code. Sets BENCH_COOKIE.
jar="$work/cookies"
sign_in() {
  local status location page action
  rm -f "$jar"
  read -r status location < <(get "$base$(authorize_path openid)")
  [ "$status" = 303 ] && [[ $location == "$base/interaction/"* ]] \
    || { echo "sign-in: the authorization request answered $status ${location:-}" >&2; return 1; }
  page=$(curl -fsS -c "$jar" -b "$jar" "$location")
  action=$(grep -o '<form[^>]*action="[^"]*"' <<<"$page" | sed 's/.*action="\([^"]*\)".*/\1/')
  [ -n "$action" ] || { echo "sign-in: no login form at $location" >&2; return 1; }
  read -r status location < <(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}\n' -c "$jar" -b "$jar" \
    --data-urlencode "username=$BENCH_USER" --data-urlencode "password=$REF_USER_PASSWORD" "$base$action")
  [ "$status" = 303 ] && [[ $location == "$base$BENCH_AUTHORIZE_PATH/"* ]] \
    || { echo "sign-in: the login form answered $status ${location:-}" >&2; return 1; }
  read -r status location < <(get "$location")
  [ "$status" = 303 ] && [[ $location == "$BENCH_REDIRECT_URI?"*code=* ]] \
    || { echo "sign-in: resuming the authorization answered $status ${location:-}" >&2; return 1; }
  session_cookie
}

# session_cookie: sets BENCH_COOKIE to the Cookie header the browser sends to the
# authorization endpoint (the cookies of path /: the session and its signature). Every
# interaction (sign-in, consent) gives the session a new identifier, so it is read again after
# the last one.
session_cookie() {
  export BENCH_COOKIE
  BENCH_COOKIE=$(awk '{ sub(/^#HttpOnly_/, "") } !/^#/ && NF >= 7 && $3 == "/" { printf "%s%s=%s", sep, $6, $7; sep = "; " }' "$jar")
  [[ $BENCH_COOKIE == *_session=* ]] || { echo "no session cookie" >&2; return 1; }
}

# code_exchange SCOPE: one authorization of the signed-in browser (following the redirects
# through the consent interaction that prompt=consent brings, which the first-party client
# passes without a page) and the redemption of its code; prints the token response (JSON), or
# fails.
code_exchange() {
  local status location code hops=0
  read -r status location < <(get "$base$(authorize_path "$1")")
  while [ "$status" = 303 ] && [[ $location == "$base/"* ]] && [ $((hops += 1)) -le 4 ]; do
    read -r status location < <(get "$location")
  done
  code=$(sed -n 's/.*[?&]code=\([^&#]*\).*/\1/p' <<<"$location")
  if [ "$status" != 303 ] || [[ $location != "$BENCH_REDIRECT_URI?"* ]] || [ -z "$code" ]; then
    echo "no code in the authorization response: $status ${location:-no redirect}" >&2
    return 1
  fi
  curl -fsS -u "$BENCH_CLIENT_ID:$BENCH_CLIENT_SECRET" -d grant_type=authorization_code \
    --data-urlencode "code=$code" --data-urlencode "redirect_uri=$BENCH_REDIRECT_URI" \
    -d "code_verifier=$PKCE_VERIFIER" "$base/token"
}

echo "oidc-provider $pinned on node $(node --version), NODE_ENV=production, in-memory store;" \
  "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION per endpoint; $(nproc) cores;" \
  "ID tokens $ID_TOKEN_ALG; phases: health $PHASES; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# By hand first, so a broken flow stops the run instead of producing a rate of errors.
cc=$(curl -fsS -u "$REF_CC_ID:$REF_CC_SECRET" -d grant_type=client_credentials "$base/token")
cc_token=$(json_field access_token <<<"$cc")
[ "$(jwt_part "$cc_token" 1 | json_field alg)" = ES256 ] \
  || { echo "client_credentials: no ES256 JWT access token: $cc" >&2; exit 1; }
echo "client_credentials access token: $(jwt_part "$cc_token" 1) $(jwt_part "$cc_token" 2)"
# node-oidc-provider does not introspect JWT access tokens (they are self-contained): the
# introspection phase introspects an opaque client_credentials token of the same client.
export BENCH_TOKEN
BENCH_TOKEN=$(curl -fsS -u "$REF_CC_ID:$REF_CC_SECRET" -d grant_type=client_credentials \
  --data-urlencode resource=https://api.example.com/opaque "$base/token" | json_field access_token)
introspection=$(curl -fsS -u "$REF_CC_ID:$REF_CC_SECRET" --data-urlencode "token=$BENCH_TOKEN" "$base/token/introspection")
[ "$(json_field active <<<"$introspection")" = true ] \
  || { echo "introspection of the opaque token: $introspection" >&2; exit 1; }
echo "introspection (opaque token): $introspection"

sign_in
tokens=$(code_exchange "openid offline_access")
id_token=$(json_field id_token <<<"$tokens")
access_token=$(json_field access_token <<<"$tokens")
refresh_token=$(json_field refresh_token <<<"$tokens")
[ "$(jwt_part "$id_token" 1 | json_field alg)" = "$ID_TOKEN_ALG" ] && [ -n "$refresh_token" ] \
  || { echo "the code flow does not answer with an $ID_TOKEN_ALG ID token and a refresh token: $tokens" >&2; exit 1; }
echo "code flow access token: $(jwt_part "$access_token" 1) $(jwt_part "$access_token" 2)"
echo "code flow ID token: $(jwt_part "$id_token" 1) $(jwt_part "$id_token" 2)"
refreshed=$(curl -fsS -u "$BENCH_CLIENT_ID:$BENCH_CLIENT_SECRET" -d grant_type=refresh_token \
  --data-urlencode "refresh_token=$refresh_token" "$base/token")
next_refresh=$(json_field refresh_token <<<"$refreshed")
[ -n "$next_refresh" ] && [ "$next_refresh" != "$refresh_token" ] && [ -n "$(json_field id_token <<<"$refreshed")" ] \
  || { echo "refresh: no rotated refresh token and ID token: $refreshed" >&2; exit 1; }
echo "refresh: rotated (a new refresh token, an access token and an ID token)"

results=()
results+=("$(wrk_run health "$base/healthz")")
if phase token; then
  results+=("$(wrk_run client_credentials "$base/token" bench/token.lua)")
fi
if phase introspect; then
  results+=("$(wrk_run introspect "$base/token/introspection" bench/introspect.lua)")
fi
if phase code; then
  session_cookie
  results+=("$(BENCH_SCOPE=openid wrk_run code "$base" bench/code.lua)")
fi
if phase refresh; then
  # One refresh-token family per connection, plus two per thread (wrk tries request() once
  # before it starts, which takes a token out of the first thread's queue), as bench/run.sh.
  export BENCH_REFRESH_TOKENS="$work/refresh-tokens" BENCH_THREADS=$THREADS
  : >"$BENCH_REFRESH_TOKENS"
  for _ in $(seq 1 $((CONNECTIONS + 2 * THREADS))); do
    code_exchange "openid offline_access" | json_field refresh_token >>"$BENCH_REFRESH_TOKENS"
    echo >>"$BENCH_REFRESH_TOKENS"
  done
  [ "$(grep -c . "$BENCH_REFRESH_TOKENS")" -eq $((CONNECTIONS + 2 * THREADS)) ] \
    || { echo "seeding the refresh tokens failed: $(grep -c . "$BENCH_REFRESH_TOKENS") of $((CONNECTIONS + 2 * THREADS))" >&2; exit 1; }
  results+=("$(wrk_run refresh "$base/token" bench/refresh.lua)")
fi
rss_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$server_pid/status")

health_rps=$(awk '{ print $2 }' <<<"${results[0]}")
printf '%-24s %10s %10s %10s %8s %8s %10s\n' endpoint "req/s" p50 p99 non-2xx "CPU µs" "/health"
for line in "${results[@]}"; do
  read -r name rps p50 p99 non2xx cpu <<<"$line"
  printf '%-24s %10s %10s %10s %8s %8s %10s\n' "$name" "$rps" "$p50" "$p99" "$non2xx" "$cpu" \
    "$(awk -v a="$rps" -v b="$health_rps" 'BEGIN { printf "%.2f", a/b }')"
done
# code: an operation is two requests (authorize, token); refresh: one rotation per request.
if phase code; then echo "code: $(wrk_ops code)"; fi
if phase refresh; then echo "refresh: $(wrk_ops refresh)"; fi
echo "server RSS: idle $((idle_rss_kib / 1024)) MiB ($idle_split), peak $((rss_kib / 1024)) MiB"
if grep -q 'server_error' "$work/server.log"; then
  echo "server errors (from its log):" >&2
  grep -A3 'server_error' "$work/server.log" | head -20 >&2
fi
