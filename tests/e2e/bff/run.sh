#!/usr/bin/env bash
# End-to-end browser test of `ostiary bff` with the example SPA (examples/spa).
#
#   bash tests/e2e/bff/run.sh
#
# Installs what it needs (Debian's chromium when /usr/bin/chromium is missing, playwright-core
# with `npm ci`), builds `ostiary` and the example resource server (debug; CARGO_TARGET_DIR is
# honoured, default `target`), then, for each scenario, starts on free loopback ports in a
# temporary folder: Ostiary (SQLite), a user and the BFF's client made with the admin CLI, the
# example resource server, and `ostiary bff` serving examples/spa; and runs e2e.mjs in headless
# Chromium against them. Everything it started is stopped on exit; the servers' logs are
# printed on failure.
#
# Scenarios (E2E_SCENARIOS, default both):
#   same-site   Ostiary's issuer is http://127.0.0.1:PORT, the same site as the BFF.
#   cross-site  Ostiary's issuer is http://localhost:PORT, another site than the BFF at
#               127.0.0.1, as in most deployments: the browser then sends no SameSite cookie
#               of the BFF's on the way back from Ostiary (callback, logout).
# Only loopback is used: 127.0.0.1, and `localhost` for the cross-site parts.
#
# Settings: CARGO_TARGET_DIR; E2E_SCENARIOS; E2E_KEEP=1 keeps the temporary folder even on
# success.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac

log() { printf 'e2e-bff: %s\n' "$*" >&2; }

# --- Tools ----------------------------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "node and npm are needed (Node.js 20 or later)"
    exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
    log "installing chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
log "$(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
(cd "$here" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)

log "building ostiary and the example resource server"
# The feature set of the workspace's test command, so that after it nothing is rebuilt.
cargo build --locked --workspace --all-features --bin ostiary --example resource_server
ostiary="$target/debug/ostiary"
resource_server="$target/debug/examples/resource_server"

# --- Processes, and cleaning up ----------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ostiary-e2e-bff.XXXXXX")"
pids=()
names=()
dir=""

stop_all() {
    local i
    for i in "${!pids[@]}"; do
        kill "${pids[$i]}" 2>/dev/null || true
    done
    for i in "${!pids[@]}"; do
        # Each gets 5 s to stop before it is killed.
        for _ in $(seq 1 50); do
            kill -0 "${pids[$i]}" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "${pids[$i]}" 2>/dev/null || true
        wait "${pids[$i]}" 2>/dev/null || true
    done
}

cleanup() {
    local status=$? i
    stop_all
    if [ "$status" -ne 0 ]; then
        for i in "${!names[@]}"; do
            printf '\n===== log of %s (last 200 lines) =====\n' "${names[$i]}" >&2
            tail -n 200 "$dir/${names[$i]}.log" >&2 2>/dev/null || true
        done
        log "FAILED; the temporary folder (logs, databases, screenshots, traffic) is kept: $tmp"
    elif [ "${E2E_KEEP:-}" = 1 ]; then
        log "the temporary folder is kept: $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() {
    # N distinct free ports on 127.0.0.1, held open together so they differ.
    node -e '
        const net = require("node:net");
        const n = Number(process.argv[1]);
        const servers = [];
        let done = 0;
        for (let i = 0; i < n; i++) {
            const s = net.createServer();
            servers.push(s);
            s.listen(0, "127.0.0.1", () => {
                if (++done === n) {
                    console.log(servers.map((x) => x.address().port).join(" "));
                    servers.forEach((x) => x.close());
                }
            });
        }' "$1"
}

start() {
    # start NAME COMMAND...: runs it in the background with its output in $dir/NAME.log.
    local name=$1
    shift
    "$@" >"$dir/$name.log" 2>&1 &
    pids+=("$!")
    names+=("$name")
}

wait_http() {
    # wait_http NAME URL SECONDS: until URL answers 200, while NAME's process lives.
    local name=$1 url=$2 seconds=$3 i pid=""
    for i in "${!names[@]}"; do
        [ "${names[$i]}" = "$name" ] && pid=${pids[$i]}
    done
    for _ in $(seq 1 $((seconds * 4))); do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before $url answered"
            return 1
        fi
        if node -e 'fetch(process.argv[1], {signal: AbortSignal.timeout(2000)}).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$url"; then
            return 0
        fi
        sleep 0.25
    done
    log "$url did not answer 200 within $seconds s"
    return 1
}

json_field() {
    # json_field FIELD < JSON
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { const v = JSON.parse(s)[process.argv[1]]; if (typeof v !== "string") process.exit(1); console.log(v); })' "$1"
}

# --- One scenario --------------------------------------------------------------------------------
scenario() {
    local name=$1 as_host=$2
    dir="$tmp/$name"
    mkdir -p "$dir"
    local as_port bff_port rs_port
    read -r as_port bff_port rs_port <<<"$(free_ports 3)"
    local issuer="http://$as_host:$as_port"
    local bff_origin="http://127.0.0.1:$bff_port"
    local rs_origin="http://127.0.0.1:$rs_port"
    local audience="https://api.example.com"
    local username=alice
    local password='correct horse battery'
    log "scenario $name: Ostiary $issuer, BFF $bff_origin, resource server $rs_origin, in $dir"

    # Ostiary. Its settings go to its own commands only, not to the BFF or the resource server.
    local as_env=(
        OAUTH2_DATABASE_URL="sqlite://$dir/as.db"
        OAUTH2_ISSUER="$issuer"
        OAUTH2_BIND="127.0.0.1:$as_port"
        OAUTH2_METRICS_BIND=off
    )
    start ostiary env "${as_env[@]}" "$ostiary" serve
    wait_http ostiary "http://127.0.0.1:$as_port/healthz" 60

    printf '%s' "$password" | timeout 60 env "${as_env[@]}" "$ostiary" user create \
        --username "$username" --password-stdin >"$dir/user.json"
    timeout 60 env "${as_env[@]}" "$ostiary" client create --name "Example SPA BFF" \
        --grant-type authorization_code --grant-type refresh_token \
        --redirect-uri "$bff_origin/bff/callback" \
        --post-logout-redirect-uri "$bff_origin/" \
        --scope openid --scope profile --scope offline_access --scope orders:read \
        --audience "$audience" \
        --skip-consent >"$dir/client.json"
    local client_id client_secret
    client_id="$(json_field client_id <"$dir/client.json")"
    client_secret="$(json_field client_secret <"$dir/client.json")"
    log "client $client_id"

    # The example resource server.
    start resource_server env OSTIARY_ISSUER="$issuer" API_AUDIENCE="$audience" \
        API_BIND="127.0.0.1:$rs_port" API_PUBLIC_ORIGIN="$rs_origin" "$resource_server"
    wait_http resource_server "$rs_origin/.well-known/oauth-protected-resource" 60

    # The BFF. The secrets come from the environment, as in a deployment, not from the file.
    cat >"$dir/bff.toml" <<EOF
bind = "127.0.0.1:$bff_port"
origin = "$bff_origin"
issuer = "$issuer"
client_id = "$client_id"
scopes = ["openid", "profile", "offline_access", "orders:read"]
database_url = "sqlite://$dir/bff.db"
static_dir = "$root/examples/spa"

[[routes]]
prefix = "orders"
upstream = "$rs_origin"
audience = "$audience"
EOF
    local session_secret
    session_secret="$(node -e 'console.log(require("node:crypto").randomBytes(32).toString("hex"))')"
    start bff env OAUTH2_BFF_CLIENT_SECRET="$client_secret" OAUTH2_BFF_SESSION_SECRET="$session_secret" \
        "$ostiary" bff --config "$dir/bff.toml"
    wait_http bff "$bff_origin/bff/healthz" 60

    # The browser.
    BFF_ORIGIN="$bff_origin" AS_ORIGIN="$issuer" CLIENT_ID="$client_id" \
        E2E_USERNAME="$username" E2E_PASSWORD="$password" E2E_ARTIFACTS="$dir/artifacts" \
        timeout 300 node "$here/e2e.mjs"

    stop_all
    pids=()
    names=()
    log "scenario $name passed"
}

for name in ${E2E_SCENARIOS:-same-site cross-site}; do
    case "$name" in
    same-site) scenario same-site 127.0.0.1 ;;
    cross-site) scenario cross-site localhost ;;
    *)
        log "unknown scenario $name (same-site, cross-site)"
        exit 1
        ;;
    esac
done
log "all scenarios passed"
