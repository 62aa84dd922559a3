"""The database outage test: one `ostiary serve` on a PostgreSQL cluster of the test's own,
which is stopped for 10 s under load and started again. Run by run.sh.

    python3 outage.py OSTIARY_BINARY SCRATCH_FOLDER

Checks, each printed with its figure: while the database is away, requests that need it
answer 503 with Retry-After within 1 s, and pages too; no answer is a 5xx other than 503; no
answer carries driver text; /readyz says not ready; once the cluster is back the same process
serves again by itself.
"""

import hashlib
import base64
import sys
import threading
import time
import urllib.parse

from run import check, failures, request, token
from topology import Cluster, Topology

DOWN_FOR = 10.0
LEAKS = ("sqlx", "pool", "postgres", "connection refused", "error returned", "database error")


def main():
    ostiary, scratch = sys.argv[1], sys.argv[2]
    cluster = Cluster()
    try:
        with Topology(ostiary, instances=1, scratch=scratch, admin_url=cluster.admin_url) as t:
            run(t, cluster)
    finally:
        cluster.remove()
    if failures:
        raise SystemExit(f"{len(failures)} check(s) failed: {failures}")
    print("all checks passed")


def run(t, cluster):
    server = t.instances[0]
    base = server.url
    made = t.cli(
        "client", "create", "--name", "svc", "--grant-type", "client_credentials",
        "--scope", "read",
    )
    svc = (made["client_id"], made["client_secret"])
    web = t.cli(
        "client", "create", "--name", "web", "--public", "--grant-type", "authorization_code",
        "--redirect-uri", "https://app.example.com/cb", "--scope", "openid",
    )["client_id"]
    verifier = "v" * 64
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    authorize = f"{base}/authorize?" + urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": web,
            "redirect_uri": "https://app.example.com/cb",
            "scope": "openid",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    jwt = token(base, svc)[1]["access_token"]
    kinds = {
        "introspection": lambda: request("POST", f"{base}/introspect", {"token": jwt}, auth=svc),
        "token": lambda: request(
            "POST", f"{base}/token", {"grant_type": "client_credentials"}, auth=svc
        ),
        "sign-in page": lambda: request("GET", authorize),
        "readiness": lambda: request("GET", f"{base}/readyz"),
    }
    for name, send in kinds.items():
        status = send()[0]
        check(f"{name} answers before the outage", status == 200, str(status))

    answers, lock, stop = [], threading.Lock(), threading.Event()

    def worker(n):
        names = list(kinds)
        i = n
        while not stop.is_set():
            name = names[i % len(names)]
            i += 1
            started = time.monotonic()
            status, headers, body = kinds[name]()
            with lock:
                answers.append(
                    (started, name, status, headers.get("Retry-After"),
                     time.monotonic() - started, body)
                )

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    stopped_at = time.monotonic()
    cluster.stop()
    time.sleep(DOWN_FOR)
    starting_at = time.monotonic()
    cluster.start()
    back_at = time.monotonic()
    recovered = None
    while time.monotonic() - back_at < 20:
        if kinds["introspection"]()[0] == 200 and kinds["sign-in page"]()[0] == 200:
            recovered = time.monotonic() - back_at
            break
        time.sleep(0.1)
    time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join()

    # Asked and answered while the cluster was down.
    during = [a for a in answers if stopped_at + 0.5 < a[0] and a[0] + a[4] < starting_at]
    unavailable = [a for a in answers if a[2] == 503]
    for name in ("introspection", "sign-in page", "readiness"):
        mine = [a for a in during if a[1] == name]
        check(
            f"{name} answers 503 while the database is away",
            mine and all(a[2] == 503 for a in mine),
            f"{len(mine)} answers: {sorted({a[2] for a in mine})}",
        )
    statuses = sorted({a[2] for a in answers})
    check("no answer other than 200 or 503", set(statuses) <= {200, 503}, str(statuses))
    check(
        "every 503 carries Retry-After",
        all(a[3] is not None for a in unavailable),
        f"{len(unavailable)} answers 503",
    )
    slowest = max((a[4] for a in unavailable), default=0.0)
    check("every 503 within 1 s", slowest < 1.0, f"slowest {slowest * 1000:.0f} ms")
    # Once the probe has seen the database gone (within a second), nothing waits for a
    # connection that cannot come.
    settled = sorted(a[4] for a in during if a[0] > stopped_at + 1.5 and a[1] != "token")
    median = settled[len(settled) // 2] if settled else None
    check(
        "once the outage is known, 503 at once",
        median is not None and median < 0.1,
        f"median {median * 1000:.1f} ms of {len(settled)}" if median is not None else "none",
    )
    # Refusals are where a driver's text could leak (a page or token that answers 200 holds
    # random values, which may spell anything).
    leaked = [
        (w, a[5][max(0, a[5].lower().find(w) - 80) :][:200])
        for a in unavailable
        for w in LEAKS
        if w in a[5].lower()
    ]
    check("no driver text in any answer", not leaked, str(leaked[:2]))
    check(
        "the same process serves again once the database is back",
        recovered is not None and server.process.poll() is None,
        f"{recovered:.1f} s after the cluster started" if recovered is not None else "not in 20 s",
    )
    tokens = [a for a in during if a[1] == "token"]
    print(
        "note: client_credentials tokens during the outage (a client is kept 1 s once "
        "changes go unheard): "
        f"{sum(a[2] == 200 for a in tokens)} of {len(tokens)} answered 200"
    )


if __name__ == "__main__":
    main()
