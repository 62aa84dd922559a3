#!/usr/bin/env bash
# Ostiary's benchmark harness: the release binary under wrk over loopback, on SQLite and (when
# reachable) PostgreSQL, with the health endpoint and the raw signing rate as baselines in the
# same run. Figures are meant to be read as ratios. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
PORT=${BENCH_PORT:-18080}
PG_ADMIN_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
ROUNDS=${BENCH_ROUNDS:-9}
ROUND_DURATION=${BENCH_ROUND_DURATION:-4s}
# Which phases run; the health baseline always does. `compare` is the on/off rounds of /token;
# `ab` the rounds alternating between two builds, BENCH_BIN and BENCH_BIN_B.
PHASES=${BENCH_PHASES:-signing token dpop introspect compare code refresh}
# A prebuilt server binary to measure instead of building this checkout's (to compare builds).
BIN=${BENCH_BIN:-}
# The second build of the `ab` phase, and what it sends to both.
BIN_B=${BENCH_BIN_B:-}
AB_FLOWS=${BENCH_AB_FLOWS:-token introspect code refresh}
# The ID token algorithm of the user flows' client: RS256 (the server's default), ES256 or EdDSA.
ID_TOKEN_ALG=${BENCH_ID_TOKEN_ALG:-RS256}

# shellcheck source=bench/wrk.sh
source bench/wrk.sh

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

if phase ab && [ -z "$BIN_B" ]; then
  echo "the ab phase needs BENCH_BIN_B, the build to compare with" >&2
  exit 1
fi

if [ -n "$BIN" ]; then
  bin=$(realpath "$BIN")
  echo "== server binary $bin (BENCH_BIN)"
else
  echo "== building the release binary"
  cargo build --release --quiet --bin ostiary
  bin="${CARGO_TARGET_DIR:-$root/target}/release/ostiary"
fi

sign_rate=
if phase signing; then
  echo "== raw signing rate (criterion, ostiary-jwt)"
  sign_us=$(cargo bench --quiet -p ostiary-jwt --bench sign -- --warm-up-time 1 --measurement-time 3 'sign/ES256' 2>/dev/null \
    | awk '/sign\/ES256/ && /time:/ { v=$5; u=$6 } END { if (u=="ns") v/=1000; if (u=="ms") v*=1000; print v }')
  sign_rate=$(awk -v us="$sign_us" 'BEGIN { printf "%.0f", 1e6/us }')
  echo "ES256 sign: ${sign_us} µs per signature = ${sign_rate} signatures/s on one core"
fi

# The user flows need a signed-in browser whose cookie stays valid across server restarts:
# a fixed session key (any 128 hex characters) unless one is configured.
export OAUTH2_SESSION_KEY=${OAUTH2_SESSION_KEY:-$(printf '5e%.0s' $(seq 1 64))}
BENCH_USER=bench
BENCH_PASSWORD='bench password, not a secret'
export BENCH_REDIRECT_URI=https://app.example.com/cb
# RFC 7636 appendix B; code.lua uses the same pair.
PKCE_VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
PKCE_CHALLENGE=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM

work=$(mktemp -d)
servers=()
cleanup() {
  stop_servers
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# start_server LOG [PORT]: serves in the background and waits for /healthz; sets server_pid.
start_server() {
  local port=${2:-$PORT}
  OAUTH2_BIND=127.0.0.1:$port "$bin" serve >"$1" 2>&1 &
  server_pid=$!
  servers+=("$server_pid")
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
  done
}

stop_servers() {
  kill "${servers[@]}" 2>/dev/null || true
  wait "${servers[@]}" 2>/dev/null || true
  servers=()
}

# ratio A B: A/B to three places.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}

# median X...: the middle value (the upper middle of an even count).
median() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int(NR / 2) + 1] }'
}

# hidden_inputs: "name value" of every hidden <input> of the HTML page on stdin, entities
# decoded (the server's templates quote attributes with ").
hidden_inputs() {
  grep -o '<input[^>]*>' | grep 'type="hidden"' | while read -r tag; do
    local name value
    name=$(sed -n 's/.* name="\([^"]*\)".*/\1/p' <<<"$tag")
    value=$(sed -n 's/.* value="\([^"]*\)".*/\1/p' <<<"$tag" \
      | perl -pe 's/&#[xX]([0-9a-fA-F]+);/chr(hex($1))/ge; s/&#([0-9]+);/chr($1)/ge;
                  s/&quot;/"/g; s/&apos;/\x27/g; s/&lt;/</g; s/&gt;/>/g; s/&amp;/&/g')
    echo "$name $value"
  done
}

# sign_in BASE: signs BENCH_USER in once, as a browser would (GET /authorize shows the login
# form, POST /login with its hidden fields), and sets BENCH_COOKIE to the Cookie header.
sign_in() {
  local base=$1 jar="$work/cookies" page fields=() name value status
  rm -f "$jar"
  page=$(curl -fsS -c "$jar" -b "$jar" "$base$(authorize_path openid)")
  while read -r name value; do
    fields+=(--data-urlencode "$name=$value")
  done < <(hidden_inputs <<<"$page")
  status=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" "${fields[@]}" \
    --data-urlencode "username=$BENCH_USER" --data-urlencode "password=$BENCH_PASSWORD" "$base/login")
  export BENCH_COOKIE
  BENCH_COOKIE=$(awk '{ sub(/^#HttpOnly_/, "") } !/^#/ && NF >= 7 { printf "%s%s=%s", sep, $6, $7; sep = "; " }' "$jar")
  if [ "$status" != 303 ] || [ -z "$BENCH_COOKIE" ]; then
    echo "sign-in failed: POST /login answered $status" >&2
    return 1
  fi
}

# authorize_path SCOPE: the authorization request of code.lua (PKCE S256, the web client).
authorize_path() {
  printf '/authorize?response_type=code&client_id=%s&redirect_uri=%s&scope=%s&state=bench&code_challenge=%s&code_challenge_method=S256' \
    "$BENCH_CLIENT_ID" "https%3A%2F%2Fapp.example.com%2Fcb" "${1// /%20}" "$PKCE_CHALLENGE"
}

# code_exchange BASE SCOPE: one authorization with the session cookie and the redemption of
# its code; prints the token response (JSON), or fails.
code_exchange() {
  local base=$1 location code
  location=$(curl -sS -o /dev/null -w '%{redirect_url}' -H "Cookie: $BENCH_COOKIE" "$base$(authorize_path "$2")")
  code=$(sed -n 's/.*[?&]code=\([^&#]*\).*/\1/p' <<<"$location")
  if [ -z "$code" ]; then
    echo "no code in the authorization response: ${location:-no redirect}" >&2
    return 1
  fi
  curl -fsS -u "$BENCH_CLIENT_ID:$BENCH_CLIENT_SECRET" -d grant_type=authorization_code \
    --data-urlencode "code=$code" --data-urlencode "redirect_uri=$BENCH_REDIRECT_URI" \
    -d "code_verifier=$PKCE_VERIFIER" "$base/token"
}

# seed_refresh_tokens BASE: one refresh-token family per connection, plus one per thread (wrk
# tries request() once before it starts, which takes a token out of the first thread's queue),
# in the file refresh.lua reads; or fails.
seed_refresh_tokens() {
  export BENCH_REFRESH_TOKENS="$work/refresh-tokens" BENCH_THREADS=$THREADS
  : >"$BENCH_REFRESH_TOKENS"
  local i wanted=$((CONNECTIONS + 2 * THREADS))
  for i in $(seq 1 "$wanted"); do
    code_exchange "$1" "openid offline_access" \
      | grep -o '"refresh_token":"[^"]*"' | cut -d'"' -f4 >>"$BENCH_REFRESH_TOKENS"
  done
  [ "$(wc -l <"$BENCH_REFRESH_TOKENS")" -eq "$wanted" ] \
    || { echo "seeding the refresh tokens failed: $(wc -l <"$BENCH_REFRESH_TOKENS") of $wanted" >&2; return 1; }
}

# ab_rounds PID_A PID_B: each of AB_FLOWS (token, introspect, code, refresh) sent to the two
# servers in turn (A on PORT, B on PORT + 4), ROUNDS rounds of ROUND_DURATION each, the side
# that goes first changing every round. Prints each round and, per flow, the medians and the
# median of the rounds' ratios B / A of the request rate and of the server's CPU time per
# request.
ab_rounds() {
  local pid_a=$1 pid_b=$2 flow round side
  for flow in $AB_FLOWS; do
    local rates_a=() rates_b=() rate_ratios=() cpu_ratios=()
    for round in $(seq 1 "$ROUNDS"); do
      local order=(a b)
      [ $((round % 2)) -eq 0 ] && order=(b a)
      local rate_a rate_b cpu_a cpu_b p99_a p99_b non2xx_a non2xx_b
      for side in "${order[@]}"; do
        local port=$PORT
        measured_pid=$pid_a
        [ "$side" = b ] && measured_pid=$pid_b port=$((PORT + 4))
        local base="http://127.0.0.1:$port" rate p99 non2xx cpu
        local url=$base/token script=bench/$flow.lua
        case $flow in
          introspect) url=$base/introspect ;;
          code) url=$base ;;
          refresh) seed_refresh_tokens "$base" || return 1 ;;
        esac
        read -r _ rate _ p99 non2xx cpu _ < <(BENCH_SCOPE=openid DURATION=$ROUND_DURATION \
          wrk_run "ab-$side-$flow" "$url" "$script")
        # Called as `ab_rounds ... || return 1`, this runs without `set -e`: every failure
        # is checked here.
        if [ -z "$rate" ] || [ "$rate" = 0 ] || [ "${non2xx:-0}" != 0 ]; then
          echo "ab: $side $flow round $round: ${rate:-no} req/s, ${non2xx:-0} non-2xx" >&2
          return 1
        fi
        if [[ $flow =~ ^(code|refresh)$ && "$(wrk_ops "ab-$side-$flow")" != *" 0 unexpected"* ]]; then
          echo "ab: $side $flow round $round: $(wrk_ops "ab-$side-$flow")" >&2
          return 1
        fi
        printf -v "rate_$side" '%s' "$rate"
        printf -v "cpu_$side" '%s' "$cpu"
        printf -v "p99_$side" '%s' "$p99"
        printf -v "non2xx_$side" '%s' "$non2xx"
      done
      rates_a+=("$rate_a")
      rates_b+=("$rate_b")
      rate_ratios+=("$(ratio "$rate_b" "$rate_a")")
      cpu_ratios+=("$(ratio "$cpu_b" "$cpu_a")")
      echo "ab round $round (${order[*]}): $flow req/s A $rate_a, B $rate_b ($(ratio "$rate_b" "$rate_a"));" \
        "server CPU µs per request A $cpu_a, B $cpu_b; p99 A $p99_a, B $p99_b; non-2xx $non2xx_a, $non2xx_b"
    done
    echo "ab $flow: req/s A / B medians of $ROUNDS rounds $(median "${rates_a[@]}") / $(median "${rates_b[@]}");" \
      "B / A: rate $(median "${rate_ratios[@]}"), server CPU per request $(median "${cpu_ratios[@]}")"
  done
}

bench_backend() {
  local backend=$1 url
  case $backend in
    sqlite) url="sqlite://$work/bench.db" ;;
    postgres)
      if ! command -v psql >/dev/null || ! psql "$PG_ADMIN_URL" -qAtc 'select 1' >/dev/null 2>&1; then
        echo "== postgres: not reachable at $PG_ADMIN_URL, skipped"
        return
      fi
      local db="ostiary_bench_$$"
      PGOPTIONS='-c client_min_messages=warning' psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
      url="${PG_ADMIN_URL%/*}/$db"
      # What each request costs the database, beside each phase's figures.
      DB_URL=$url
      ;;
  esac
  echo "== $backend"
  export OAUTH2_DATABASE_URL=$url OAUTH2_METRICS_BIND=127.0.0.1:$((PORT + 1))
  cd "$work"
  "$bin" migrate >/dev/null
  local created id secret
  created=$("$bin" client create --name bench --grant-type client_credentials --scope read \
    --audience https://api.example.com)
  id=$(sed -n 's/.*"client_id": "\(.*\)".*/\1/p' <<<"$created")
  secret=$(sed -n 's/.*"client_secret": "\(.*\)".*/\1/p' <<<"$created")
  export BENCH_BASIC
  BENCH_BASIC=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
  # The user flows: a first-party web client (no consent screen) and one user.
  if phase code || phase refresh || phase ab; then
    created=$("$bin" client create --name bench-web --grant-type authorization_code \
      --grant-type refresh_token --redirect-uri "$BENCH_REDIRECT_URI" --scope "openid offline_access" \
      --skip-consent --id-token-alg "$ID_TOKEN_ALG")
    export BENCH_CLIENT_ID BENCH_CLIENT_SECRET
    BENCH_CLIENT_ID=$(sed -n 's/.*"client_id": "\(.*\)".*/\1/p' <<<"$created")
    BENCH_CLIENT_SECRET=$(sed -n 's/.*"client_secret": "\(.*\)".*/\1/p' <<<"$created")
    export BENCH_WEB_BASIC
    BENCH_WEB_BASIC=$(printf '%s:%s' "$BENCH_CLIENT_ID" "$BENCH_CLIENT_SECRET" | base64 -w0)
    printf '%s' "$BENCH_PASSWORD" | "$bin" user create --username "$BENCH_USER" --password-stdin >/dev/null
  fi
  start_server "$work/server-$backend.log"
  local on_pid=$server_pid
  measured_pid=$on_pid
  # Idle: started and answering, nothing served yet but the readiness probe.
  sleep 1
  local idle_rss_kib idle_split
  idle_memory "$on_pid"
  export BENCH_TOKEN
  BENCH_TOKEN=$(curl -fs -u "$id:$secret" -d grant_type=client_credentials "http://127.0.0.1:$PORT/token" \
    | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  cd "$root"

  local results=() base="http://127.0.0.1:$PORT"
  results+=("$(wrk_run health "$base/healthz")")
  if phase token; then
    results+=("$(wrk_run client_credentials "$base/token" bench/token.lua)")
  fi
  if phase dpop; then
    # Fresh proofs for the whole phase, made just before it (each is accepted once, for
    # about 90 s after its iat); right after the plain client_credentials phase, so the two
    # rates are read side by side.
    export BENCH_DPOP_PROOFS="$work/dpop-proofs" BENCH_THREADS=$THREADS
    # htu is the token endpoint as discovery advertises it (the issuer's URL, not the port
    # wrk connects to).
    local token_endpoint
    token_endpoint=$(curl -fsS "$base/.well-known/openid-configuration" \
      | sed -n 's/.*"token_endpoint":"\([^"]*\)".*/\1/p')
    python3 bench/dpop_proofs.py "${BENCH_DPOP_COUNT:-250000}" "$token_endpoint" >"$BENCH_DPOP_PROOFS"
    results+=("$(wrk_run dpop_client_credentials "$base/token" bench/dpop.lua)")
  fi
  if phase introspect; then
    results+=("$(wrk_run introspect "$base/introspect" bench/introspect.lua)")
  fi
  if phase code || phase refresh || phase ab; then
    sign_in "$base"
    # One exchange by hand first: the flow works before wrk repeats it.
    code_exchange "$base" openid | grep -q '"id_token"' \
      || { echo "the code flow does not answer with tokens" >&2; return 1; }
  fi
  if phase code; then
    results+=("$(BENCH_SCOPE=openid wrk_run code "$base" bench/code.lua)")
  fi
  if phase refresh; then
    seed_refresh_tokens "$base" || return 1
    results+=("$(wrk_run refresh "$base/token" bench/refresh.lua)")
  fi
  local rss_kib
  rss_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$on_pid/status")

  # What operating it safely costs: a second server on the same database with metrics, the
  # audit trail and the brute-force limits off (development-only switches), and the same
  # token load alternating between the two, so drift of the machine falls on both alike.
  local on_rates=() off_rates=() ratios=() cpu_ratios=() round
  if phase compare; then
    cd "$work"
    OAUTH2_METRICS_BIND=off OAUTH2_AUDIT=off OAUTH2_RATE_LIMITS=off \
      start_server "$work/server-$backend-off.log" $((PORT + 2))
    cd "$root"
    DURATION=2s wrk_run warm-up "http://127.0.0.1:$((PORT + 2))/token" bench/token.lua >/dev/null
    local off_pid=$server_pid
    for round in $(seq 1 "$ROUNDS"); do
      # Odd rounds measure on first, even rounds off first, so neither side always runs on a
      # machine the other has just warmed (or left busy).
      local order=(on off)
      [ $((round % 2)) -eq 0 ] && order=(off on)
      local side rate non2xx cpu_on cpu_off rate_on rate_off non2xx_on non2xx_off
      for side in "${order[@]}"; do
        local pid=$on_pid port=$PORT
        [ "$side" = off ] && pid=$off_pid port=$((PORT + 2))
        local cpu0
        cpu0=$(cpu_ticks "$pid")
        read -r _ rate _ _ non2xx _ < <(DURATION=$ROUND_DURATION wrk_run "$side" "http://127.0.0.1:$port/token" bench/token.lua)
        # Server CPU per request (µs): what each request costs, whatever share of the cores
        # the server happened to get during its round.
        local cpu_us
        cpu_us=$(awk -v t="$(($(cpu_ticks "$pid") - cpu0))" -v hz="$(getconf CLK_TCK)" -v r="$rate" \
          -v d="${ROUND_DURATION%s}" 'BEGIN { printf "%.1f", t / hz * 1e6 / (r * d) }')
        printf -v "cpu_$side" '%s' "$cpu_us"
        printf -v "rate_$side" '%s' "$rate"
        printf -v "non2xx_$side" '%s' "$non2xx"
      done
      on_rates+=("$rate_on")
      off_rates+=("$rate_off")
      ratios+=("$(ratio "$rate_on" "$rate_off")")
      cpu_ratios+=("$(ratio "$cpu_on" "$cpu_off")")
      echo "round $round (${order[*]}): token req/s on $rate_on, off $rate_off ($(ratio "$rate_on" "$rate_off"));" \
        "server CPU µs per request on $cpu_on, off $cpu_off; non-2xx $non2xx_on, $non2xx_off"
    done
  fi
  # Two builds on one database: B (BENCH_BIN_B) beside A, the same load alternating.
  if phase ab; then
    cd "$work"
    local bin_a=$bin
    bin=$(realpath "$BIN_B")
    OAUTH2_METRICS_BIND=127.0.0.1:$((PORT + 5)) start_server "$work/server-$backend-b.log" $((PORT + 4))
    bin=$bin_a
    cd "$root"
    curl -fs "http://127.0.0.1:$((PORT + 4))/healthz" >/dev/null \
      || { echo "ab: B did not start (see $work/server-$backend-b.log)" >&2; return 1; }
    echo "ab: A $bin_a, B $(realpath "$BIN_B")"
    BENCH_SCOPE=openid DURATION=2s wrk_run warm-up "http://127.0.0.1:$((PORT + 4))" bench/code.lua >/dev/null
    ab_rounds "$on_pid" "$server_pid" || return 1
  fi
  stop_servers

  local health_rps
  health_rps=$(awk '{ print $2 }' <<<"${results[0]}")
  printf '%-24s %10s %10s %10s %8s %8s %10s %10s' endpoint "req/s" p50 p99 non-2xx "CPU µs" "/health" "/signing"
  [ -n "${DB_URL:-}" ] && printf ' %8s %8s %8s %8s' "db tx" "db wr" "db rd" "db µs"
  echo
  for line in "${results[@]}"; do
    read -r name rps p50 p99 non2xx cpu db_tx db_written db_fetched db_cpu <<<"$line"
    printf '%-24s %10s %10s %10s %8s %8s %10s %10s' "$name" "$rps" "$p50" "$p99" "$non2xx" "$cpu" \
      "$(awk -v a="$rps" -v b="$health_rps" 'BEGIN { printf "%.2f", a/b }')" \
      "$(awk -v a="$rps" -v b="$sign_rate" 'BEGIN { if (b == "") print "-"; else printf "%.2f", a/b }')"
    [ -n "${DB_URL:-}" ] && printf ' %8s %8s %8s %8s' "$db_tx" "$db_written" "$db_fetched" "$db_cpu"
    echo
  done
  # code: an operation is two requests (authorize, token); refresh: one rotation per request.
  phase dpop && echo "dpop: $(wrk_ops dpop_client_credentials)"
  phase code && echo "code: $(wrk_ops code)"
  phase refresh && echo "refresh: $(wrk_ops refresh)"
  echo "server RSS: idle $((idle_rss_kib / 1024)) MiB ($idle_split), peak $((rss_kib / 1024)) MiB"
  if phase compare; then
    on=$(median "${on_rates[@]}")
    off=$(median "${off_rates[@]}")
    echo "token req/s with metrics, audit and limits on / off: medians of $ROUNDS rounds $on / $off;" \
      "median of the rounds' ratios $(median "${ratios[@]}");" \
      "server CPU per request on / off, median of the rounds' ratios $(median "${cpu_ratios[@]}")"
  fi
  if [ "$backend" = postgres ]; then
    psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS ostiary_bench_$$ WITH (FORCE)" >/dev/null
    unset DB_URL
  fi
}

echo "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION per endpoint; $(nproc) cores;" \
  "ID tokens $ID_TOKEN_ALG; phases: health $PHASES; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for backend in $BACKENDS; do
  bench_backend "$backend"
done
