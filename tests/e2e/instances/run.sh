#!/usr/bin/env bash
# The topology test: three `ostiary serve` processes on one PostgreSQL database behind HAProxy
# (run.py), and a database outage: a cluster of the test's own stopped for 10 s under load
# (outage.py).
#
#   bash tests/e2e/instances/run.sh
#
# Installs HAProxy from Debian when missing, builds `ostiary` (debug; CARGO_TARGET_DIR is
# honoured, default `target`) and runs run.py, which starts everything on free loopback ports
# over a database of its own (on OSTIARY_TEST_POSTGRES_URL's server) and stops it at the end.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac

if ! command -v haproxy >/dev/null; then
    echo "e2e-instances: installing haproxy" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
fi
# The feature set of the workspace's test command, so that after it nothing is rebuilt.
cargo build --locked --workspace --all-features --bin ostiary
scratch="$(mktemp -d "${TMPDIR:-/tmp}/ostiary-e2e-instances.XXXXXX")"
if python3 "$here/run.py" "$target/debug/ostiary" "$scratch" &&
    python3 "$here/outage.py" "$target/debug/ostiary" "$scratch"; then
    rm -rf "$scratch"
else
    echo "e2e-instances: FAILED; logs kept in $scratch" >&2
    exit 1
fi
