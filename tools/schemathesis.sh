#!/usr/bin/env bash
# The admin API against its own OpenAPI document, by a third-party tool: starts the server
# built by `cargo test` with the admin API on, gets an admin token the way an operator's
# automation would, and runs a bounded schemathesis session (every check; each operation's
# examples capped; every check but where tools/schemathesis.toml says) against /openapi.json. Exits non-zero on any finding.
#
# Usage: tools/schemathesis.sh [path/to/ostiary]   (default: target/debug/ostiary)
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:-${CARGO_TARGET_DIR:-target}/debug/ostiary}
examples=${SCHEMATHESIS_MAX_EXAMPLES:-25}
# Pinned: a new release may add checks; upgrading is a deliberate change.
version=4.32.5

if ! command -v st >/dev/null || [ "$(st --version 2>/dev/null | awk '{print $NF}')" != "$version" ]; then
    python3 -m pip install -q --disable-pip-version-check "schemathesis==$version"
fi

work=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -z "${SCHEMATHESIS_KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin_port=$(free_port)
export OAUTH2_ISSUER="http://127.0.0.1:$port"
export OAUTH2_BIND="127.0.0.1:$port"
export OAUTH2_ADMIN_BIND="127.0.0.1:$admin_port"
export OAUTH2_METRICS_BIND=off
export OAUTH2_DATABASE_URL="sqlite://$work/ostiary.db"
export OAUTH2_AUDIT_JOURNAL="$work/journal"
export OAUTH2_LOG_FORMAT=text
export RUST_LOG=warn

# A generated client id: the session must not delete or narrow its own client by chance.
read -r client_id secret < <("$binary" client create --name "API conformance" \
    --grant-type client_credentials --scope ostiary:admin --audience "$OAUTH2_ISSUER/admin" |
    python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["client_id"], c["client_secret"])')

"$binary" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.2
done

token=$(curl -sf -u "$client_id:$secret" -d grant_type=client_credentials \
    "http://127.0.0.1:$port/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# revoke-all, and revoking a signing key the session finds in GET /v1/keys, would end the
# session's own token halfway; the integration tests cover both. (Its own client it cannot
# change or delete: the API refuses that to any caller.)
status=0
st --config-file tools/schemathesis.toml run "http://127.0.0.1:$admin_port/openapi.json" \
    --header "Authorization: Bearer $token" \
    --max-examples "$examples" \
    --exclude-path /v1/tokens/revoke-all \
    --exclude-path /v1/keys/{kid} \
    --workers 2 \
    --seed 1 \
    ${SCHEMATHESIS_ARGS:-} \
    || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- server log" >&2
    tail -n 50 "$work/server.log" >&2
fi
exit "$status"
