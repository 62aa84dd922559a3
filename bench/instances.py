"""One instance against three behind HAProxy (round robin), on one PostgreSQL database.

    python3 bench/instances.py [BINARY]

Builds the release binary unless one is given (BENCH_BIN works too), then for 1 and for 3
instances (BENCH_INSTANCES, default "1 3"), all behind the same HAProxy on loopback, drives
each phase with wrk (BENCH_THREADS 2, BENCH_CONNECTIONS 32, BENCH_DURATION 10s):
health (the baseline), client_credentials tokens and introspection. On a 2-core machine
the cores bound the figure; the point is the ratio, the latency and zero errors.
"""

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e", "instances"))

from topology import Topology  # noqa: E402

THREADS = os.environ.get("BENCH_THREADS", "2")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "32")
DURATION = os.environ.get("BENCH_DURATION", "10s")
COUNTS = [int(n) for n in os.environ.get("BENCH_INSTANCES", "1 3").split()]


def wrk(url, script=None, env=None):
    args = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency"]
    if script:
        args += ["-s", os.path.join(ROOT, "bench", script)]
    out = subprocess.run(
        args + [url], capture_output=True, text=True, env={**os.environ, **(env or {})}
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": p50.group(1) if p50 else "?",
        "p99": p99.group(1) if p99 else "?",
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(1).strip() if errors else "none",
    }


def main():
    binary = (sys.argv[1:] or [os.environ.get("BENCH_BIN", "")])[0]
    if not binary:
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--bin", "ostiary"], cwd=ROOT, check=True
        )
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        binary = os.path.join(target, "release", "ostiary")
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    print(
        f"wrk: {THREADS} threads, {CONNECTIONS} connections, {DURATION} per phase; "
        f"{os.cpu_count()} cores; binary {binary}"
    )
    rows = {}
    for count in COUNTS:
        scratch = tempfile.mkdtemp(prefix="ostiary-bench-instances-")
        env = {"RUST_LOG": "warn"}
        with Topology(binary, instances=count, scratch=scratch, env=env) as t:
            made = t.cli(
                "client", "create", "--name", "bench", "--grant-type", "client_credentials",
                "--scope", "read", "--audience", "https://api.example.com",
            )
            basic = base64.b64encode(
                f"{made['client_id']}:{made['client_secret']}".encode()
            ).decode()
            token = subprocess.run(
                ["curl", "-fs", "-u", f"{made['client_id']}:{made['client_secret']}",
                 "-d", "grant_type=client_credentials", f"{t.lb}/token"],
                capture_output=True, text=True, check=True,
            ).stdout
            access_token = re.search(r'"access_token":"([^"]+)"', token).group(1)
            env = {"BENCH_BASIC": basic, "BENCH_TOKEN": access_token}
            rows[count] = {
                "health": wrk(f"{t.lb}/healthz"),
                "client_credentials": wrk(f"{t.lb}/token", "token.lua", env),
                "introspect": wrk(f"{t.lb}/introspect", "introspect.lua", env),
            }
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'phase':<20} {'instances':>9} {'req/s':>9} {'p50':>9} {'p99':>9} {'non-2xx':>8}  socket errors")
    for phase in ["health", "client_credentials", "introspect"]:
        for count in COUNTS:
            r = rows[count][phase]
            print(
                f"{phase:<20} {count:>9} {r['rps']:>9.0f} {r['p50']:>9} {r['p99']:>9} "
                f"{r['non2xx']:>8}  {r['errors']}"
            )
        if len(COUNTS) == 2:
            a, b = (rows[c][phase]["rps"] for c in COUNTS)
            print(f"{'':<20} {'ratio':>9} {b / a if a else 0:>9.2f}")


if __name__ == "__main__":
    main()
