#!/usr/bin/env bash
# The original server for bench/run.sh's introspection phase: ianlintner/rust-oauth2-server at
# 32cdbaf, release build, SQLite, under the same wrk load and bench/introspect.lua, with the
# same table. See bench/original/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
# Health and introspection; the health baseline always runs.
PHASES=${BENCH_PHASES:-introspect}
COMMIT=32cdbaf
GIT_URL=${ORIGINAL_GIT:-https://github.com/ianlintner/rust-oauth2-server}
SRC=${ORIGINAL_SRC:-$HOME/.cache/ostiary-bench/rust-oauth2-server}
cache=$(dirname "$SRC")
# Its own target directory, never Ostiary's (CARGO_TARGET_DIR is not read).
TARGET_DIR=${ORIGINAL_TARGET_DIR:-$cache/rust-oauth2-server-target}
# The Swagger UI that utoipa-swagger-ui 9.0.2 embeds (its build script would download it from
# GitHub): the same release, made from npm's swagger-ui-dist.
SWAGGER_UI_VERSION=5.17.14
SWAGGER_ZIP=${ORIGINAL_SWAGGER_ZIP:-$cache/swagger-ui-$SWAGGER_UI_VERSION.zip}
# Its log level (EnvFilter syntax). Its default, info, writes three JSON lines per
# introspection; warn, as Ostiary is run in the comparisons of bench/README.md, writes none.
LOG_LEVEL=${ORIGINAL_RUST_LOG:-warn}
PORT=${ORIGINAL_PORT:-}

# shellcheck source=bench/wrk.sh
source bench/wrk.sh

for tool in git cargo wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

# The source, at the pinned commit.
if [ ! -e "$SRC/.git" ]; then
  echo "== git clone $GIT_URL $SRC"
  mkdir -p "$cache"
  git clone --quiet "$GIT_URL" "$SRC"
fi
if [ "$(git -C "$SRC" rev-parse HEAD)" != "$(git -C "$SRC" rev-parse --verify --quiet "$COMMIT^{commit}" || true)" ]; then
  git -C "$SRC" rev-parse --verify --quiet "$COMMIT^{commit}" >/dev/null || git -C "$SRC" fetch --quiet origin
  git -C "$SRC" checkout --quiet --detach "$COMMIT"
fi
commit=$(git -C "$SRC" rev-parse HEAD)

# make_swagger_zip: the zip utoipa-swagger-ui's build script takes from SWAGGER_UI_DOWNLOAD_URL
# (a file: URL): one top-level directory (its first entry), holding dist/ with Swagger UI's
# files, swagger-initializer.js among them (the script rewrites its configuration block).
# swagger-ui-dist is that dist/ directory as an npm package.
make_swagger_zip() {
  if ! command -v npm >/dev/null || ! command -v zip >/dev/null; then
    echo "npm and zip are required to make $SWAGGER_ZIP" >&2
    return 1
  fi
  echo "== Swagger UI $SWAGGER_UI_VERSION from npm's swagger-ui-dist"
  local tmp top=swagger-ui-$SWAGGER_UI_VERSION
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "swagger-ui-dist@$SWAGGER_UI_VERSION" >/dev/null)
  mkdir -p "$tmp/$top/dist"
  tar -xzf "$tmp/swagger-ui-dist-$SWAGGER_UI_VERSION.tgz" -C "$tmp/$top/dist" --strip-components=1
  [ -f "$tmp/$top/dist/swagger-initializer.js" ] \
    || { echo "swagger-ui-dist@$SWAGGER_UI_VERSION has no swagger-initializer.js" >&2; return 1; }
  mkdir -p "$(dirname "$SWAGGER_ZIP")"
  (cd "$tmp" && zip -qr "$tmp/ui.zip" "$top")
  mv "$tmp/ui.zip" "$SWAGGER_ZIP"
  rm -rf "$tmp"
}

bin=$TARGET_DIR/release/rust_oauth2_server
if [ ! -x "$bin" ]; then
  [ -f "$SWAGGER_ZIP" ] || make_swagger_zip
  echo "== cargo build --release (in $SRC, target $TARGET_DIR, nice 10)"
  (cd "$SRC" && SWAGGER_UI_DOWNLOAD_URL="file://$(realpath "$SWAGGER_ZIP")" CARGO_TARGET_DIR="$TARGET_DIR" \
    nice -n 10 cargo build --release --locked --quiet --bin rust_oauth2_server)
fi
if [ -n "${ORIGINAL_BUILD_ONLY:-}" ]; then
  echo "built: $bin (${commit:0:7})"
  exit 0
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [ -n "${ORIGINAL_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$PORT" ]; then
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
base="http://127.0.0.1:$PORT"
if curl -fs "$base/health" >/dev/null 2>&1; then
  echo "something already answers on port $PORT (ORIGINAL_PORT)" >&2
  exit 1
fi

# It reads application.conf (whose values the OAUTH2_ variables override), templates/ and
# static/ from its working directory: it runs in its source tree, on a fresh database here.
# Without an OTLP endpoint it exports no traces (it still makes spans for its log lines).
random_hex() { python3 -c "import secrets; print(secrets.token_hex($1))"; }
(
  cd "$SRC"
  unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT OAUTH2_OTLP_ENDPOINT
  export RUST_LOG=$LOG_LEVEL OAUTH2_SERVER_HOST=127.0.0.1 OAUTH2_SERVER_PORT=$PORT \
    OAUTH2_DATABASE_URL="sqlite:$work/oauth2.db?mode=rwc" OAUTH2_JWT_SECRET OAUTH2_SESSION_KEY
  OAUTH2_JWT_SECRET=$(random_hex 32)
  OAUTH2_SESSION_KEY=$(random_hex 64)
  exec "$bin"
) >"$work/server.log" 2>&1 &
server_pid=$!
measured_pid=$server_pid
wait_until_ready "$base/health"
# Idle: started and answering, nothing served yet but the readiness probe.
sleep 1
idle_memory "$server_pid"

# json_field FIELD: the value of FIELD in the JSON object on stdin (true/false for booleans).
json_field() {
  python3 -c 'import json, sys
s = sys.stdin.read()
v = json.loads(s).get(sys.argv[1]) if s.strip() else None
print("" if v is None else json.dumps(v) if isinstance(v, bool) else v)' "$1"
}

# jwt_part TOKEN N: the decoded JSON of part N (1 header, 2 payload) of a compact JWS.
jwt_part() {
  python3 -c 'import base64, sys
p = sys.argv[1].split(".")[int(sys.argv[2]) - 1]
print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())' "$1" "$2"
}

echo "rust-oauth2-server ${commit:0:7} (release, SQLite, RUST_LOG=$LOG_LEVEL);" \
  "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION per endpoint; $(nproc) cores;" \
  "phases: health $PHASES; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Its dynamic client registration (POST /clients/register, open to anyone); client_credentials
# takes the client's credentials in the form only (no HTTP Basic).
registered=$(curl -fsS -H 'Content-Type: application/json' \
  -d '{"client_name":"bench","redirect_uris":["https://app.example.com/cb"],"grant_types":["client_credentials"],"scope":"read"}' \
  "$base/clients/register")
client_id=$(json_field client_id <<<"$registered")
client_secret=$(json_field client_secret <<<"$registered")
if [ -z "$client_id" ] || [ -z "$client_secret" ]; then
  echo "client registration: no credentials in $registered" >&2
  exit 1
fi
issued=$(curl -fsS -d grant_type=client_credentials --data-urlencode "client_id=$client_id" \
  --data-urlencode "client_secret=$client_secret" -d scope=read "$base/oauth/token")
export BENCH_TOKEN BENCH_BASIC
BENCH_TOKEN=$(json_field access_token <<<"$issued")
[ -n "$BENCH_TOKEN" ] || { echo "client_credentials: no access token in $issued" >&2; exit 1; }
# introspect.lua sends HTTP Basic, as to Ostiary; this server does not read it.
BENCH_BASIC=$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)
echo "client_credentials access token: $(jwt_part "$BENCH_TOKEN" 1) $(jwt_part "$BENCH_TOKEN" 2)"

# introspect WHEN: one introspection as introspect.lua sends it; it must answer 2xx, active.
introspect() {
  local answer
  answer=$(curl -fsS -H "Authorization: Basic $BENCH_BASIC" --data-urlencode "token=$BENCH_TOKEN" "$base/oauth/introspect") \
    || { echo "introspection $1: not a 2xx answer" >&2; exit 1; }
  [ "$(json_field active <<<"$answer")" = true ] \
    || { echo "introspection $1: not active: $answer" >&2; exit 1; }
  echo "introspection $1: $answer"
}
introspect "before the run"
# What it checks of the caller: the same request without client authentication.
unauthenticated=$(curl -sS -o /dev/null -w '%{http_code}' --data-urlencode "token=$BENCH_TOKEN" "$base/oauth/introspect")
echo "introspection without client authentication: HTTP $unauthenticated"

results=()
results+=("$(wrk_run health "$base/health")")
if phase introspect; then
  results+=("$(wrk_run introspect "$base/oauth/introspect" bench/introspect.lua)")
fi
rss_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$server_pid/status")
introspect "after the run"

health_rps=$(awk '{ print $2 }' <<<"${results[0]}")
failed=0
printf '%-24s %10s %10s %10s %8s %8s %10s\n' endpoint "req/s" p50 p99 non-2xx "CPU µs" "/health"
for line in "${results[@]}"; do
  read -r name rps p50 p99 non2xx cpu <<<"$line"
  printf '%-24s %10s %10s %10s %8s %8s %10s\n' "$name" "$rps" "$p50" "$p99" "$non2xx" "$cpu" \
    "$(awk -v a="$rps" -v b="$health_rps" 'BEGIN { printf "%.2f", a/b }')"
  if [ "$rps" = 0 ] || [ "$non2xx" != 0 ]; then failed=1; fi
done
echo "server RSS: idle $((idle_rss_kib / 1024)) MiB ($idle_split), peak $((rss_kib / 1024)) MiB"
if grep -qiE 'panicked|"level":"ERROR"' "$work/server.log"; then
  echo "server errors (from its log):" >&2
  grep -iE 'panicked|"level":"ERROR"' "$work/server.log" | head -20 >&2
  failed=1
fi
if [ "$failed" != 0 ]; then
  echo "a phase had no requests, non-2xx answers or server errors (wrk's output and the server's" \
    "log are in $work when ORIGINAL_KEEP=1)" >&2
  exit 1
fi
