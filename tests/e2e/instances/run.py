"""The topology test: three `ostiary serve` processes on one PostgreSQL database behind
HAProxy (round robin, health checks on /readyz). Run by run.sh, which builds the binary.

    python3 run.py OSTIARY_BINARY SCRATCH_FOLDER

Checks, each printed with its figure:
  - a token issued by instance A introspects at B, and through the load balancer;
  - a revocation at A is refused at C at once;
  - a key rotated with the CLI signs at every instance within 100 ms;
  - a client deleted with the CLI is refused at every instance within 100 ms;
  - five wrong passwords spread over the three lock the (account, address) pair everywhere;
  - instance B killed (SIGKILL) under a load of client registrations through the load
    balancer: every registration acknowledged (201) is in the database, and the load
    balancer stops sending to B.
"""

import base64
import http.client
import http.cookiejar
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from topology import Topology

WITHIN = 0.100
failures = []


def check(what, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        failures.append(what)


def request(method, url, form=None, auth=None, headers=None, opener=None):
    """(status, headers, body as text) of one request; form is a dict, auth (id, secret)."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with (opener or urllib.request.build_opener(NoRedirect)).open(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def token(base, client):
    status, _, body = request(
        "POST", f"{base}/token", {"grant_type": "client_credentials"}, auth=client
    )
    return status, json.loads(body) if body.startswith("{") else {}


def kid(jwt):
    header = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def active(base, client, jwt):
    _, _, body = request("POST", f"{base}/introspect", {"token": jwt}, auth=client)
    return json.loads(body)["active"]


def until_everywhere(instances, passes):
    """Asks every instance, round after round, until each has passed once; when the slowest
    was first asked a question it passed."""
    started = time.monotonic()
    pending = list(instances)
    asked = 0.0
    while pending:
        asked = time.monotonic() - started
        pending = [i for i in pending if not passes(i)]
        if time.monotonic() - started > 5:
            return None
        if pending:
            time.sleep(0.005)
    return asked


def tokens_and_revocation(t, client):
    a, b, c = t.instances
    status, body = token(a.url, client)
    check("a token from instance A", status == 200, str(status))
    jwt = body["access_token"]
    check("it introspects as active at B", active(b.url, client, jwt))
    check("and through the load balancer", active(t.lb, client, jwt))
    status, _, _ = request("POST", f"{a.url}/revoke", {"token": jwt}, auth=client)
    started = time.monotonic()
    inactive = not active(c.url, client, jwt)
    took = time.monotonic() - started
    check(
        "revoked at A, inactive at C at once",
        status == 200 and inactive and took < WITHIN,
        f"asked {took * 1000:.1f} ms after A's answer",
    )


def key_rotation(t, client):
    before = {kid(token(i.url, client)[1]["access_token"]) for i in t.instances}
    check("one signing key everywhere", len(before) == 1, str(before))
    t.cli("keys", "rotate", "--alg", "ES256")

    def uses_new_key(instance):
        status, body = token(instance.url, client)
        return status == 200 and kid(body["access_token"]) not in before

    took = until_everywhere(t.instances, uses_new_key)
    check(
        "a key rotated with the CLI signs at every instance within 100 ms",
        took is not None and took < WITHIN,
        f"{took * 1000:.1f} ms" if took is not None else "not in 5 s",
    )


def client_deletion(t, client):
    for instance in t.instances:
        token(instance.url, client)  # each has the client in memory
    t.cli("client", "delete", client[0])

    def refuses(instance):
        status, body = token(instance.url, client)
        return status == 401 and body.get("error") == "invalid_client"

    took = until_everywhere(t.instances, refuses)
    check(
        "a client deleted with the CLI is refused at every instance within 100 ms",
        took is not None and took < WITHIN,
        f"{took * 1000:.1f} ms" if took is not None else "not in 5 s",
    )


def login(base, opener, username, password):
    status, _, page = request("GET", f"{base}/login", opener=opener)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": csrf, "username": username, "password": password}
    status, headers, _ = request("POST", f"{base}/login", form, opener=opener)
    return status, headers


def brute_force(t):
    t.cli("user", "create", "--username", "alice", "--password-stdin", stdin="right horse battery")
    opener = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    statuses = [
        login(t.instances[i % 3].url, opener, "alice", "wrong guess 123")[0] for i in range(5)
    ]
    check(
        "five wrong passwords, one at a time at A, B, C, A, B",
        statuses == [401] * 5,
        str(statuses),
    )
    for where, base in [("C", t.instances[2].url), ("the load balancer", t.lb)]:
        status, headers = login(base, opener, "alice", "right horse battery")
        check(
            f"then the right one at {where} waits (429, Retry-After)",
            status == 429 and headers.get("Retry-After") is not None,
            str(status),
        )


def kill_under_load(t):
    initial = t.cli("registration-token", "create", "--max-uses", "1000000")["registration_token"]
    lb = urllib.parse.urlsplit(t.lb)
    acknowledged, refused, lock = [], {}, threading.Lock()
    stop = threading.Event()
    refused_at = []

    def worker(n):
        connection = http.client.HTTPConnection(lb.hostname, lb.port, timeout=10)
        i = 0
        while not stop.is_set():
            i += 1
            body = json.dumps(
                {
                    "client_name": f"load {n}-{i}",
                    "redirect_uris": ["https://app.example.com/cb"],
                    "token_endpoint_auth_method": "none",
                }
            )
            try:
                connection.request(
                    "POST",
                    "/register",
                    body,
                    {"Content-Type": "application/json", "Authorization": f"Bearer {initial}"},
                )
                response = connection.getresponse()
                answer = response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = "connection"
                connection.close()
                connection = http.client.HTTPConnection(lb.hostname, lb.port, timeout=10)
            with lock:
                if status == 201:
                    acknowledged.append(json.loads(answer)["client_id"])
                else:
                    refused[status] = refused.get(status, 0) + 1
                    refused_at.append(time.monotonic())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    victim = t.instances[1]
    with lock:
        before_kill = len(acknowledged)
    killed_at = time.monotonic()
    victim.kill()
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join()
    ids = ",".join("'" + i.replace("'", "''") + "'" for i in acknowledged)
    stored = int(t.sql(f"SELECT count(*) FROM clients WHERE client_id IN ({ids})"))
    answered_after = len(acknowledged) - before_kill
    late = [t - killed_at for t in refused_at if t - killed_at > 1.0]
    check(
        "B killed under load: every acknowledged registration is stored",
        stored == len(acknowledged) and before_kill > 0,
        f"{len(acknowledged)} acknowledged ({before_kill} before the kill), {stored} stored, "
        f"refused: {refused or 'none'}",
    )
    check(
        "the load balancer stops sending to B within 1 s of the kill",
        not late and answered_after > 0,
        f"{len(refused_at)} refused, none later than 1 s after the kill; "
        f"{answered_after} registrations answered after it"
        if not late
        else f"{len(late)} refused later than 1 s after the kill",
    )
    bad = {k: v for k, v in refused.items() if k not in (502, 503, "connection")}
    check("no answer other than 201, 502 or 503", not bad, str(bad))


def main():
    ostiary, scratch = sys.argv[1], sys.argv[2]
    with Topology(ostiary, instances=3, scratch=scratch) as t:
        print(f"three instances {[i.url for i in t.instances]} behind HAProxy at {t.lb}")
        made = t.cli(
            "client", "create", "--name", "svc", "--grant-type", "client_credentials",
            "--scope", "read",
        )
        client = (made["client_id"], made["client_secret"])
        tokens_and_revocation(t, client)
        key_rotation(t, client)
        brute_force(t)
        client_deletion(t, client)
        kill_under_load(t)
        if failures:
            raise SystemExit(f"{len(failures)} check(s) failed: {failures}")
    print("all checks passed")


if __name__ == "__main__":
    main()
