"""Several `ostiary serve` instances on one fresh PostgreSQL database behind HAProxy.

Used by tests/e2e/instances/run.py (the topology test) and bench/instances.py (one instance
against several). Everything listens on free loopback ports; the database is created for the
run and dropped at the end; every process started is stopped.

    with Topology(ostiary, instances=3, scratch=folder) as t:
        t.lb                # http://127.0.0.1:PORT, HAProxy, round robin
        t.instances[0].url  # http://127.0.0.1:PORT, the first instance itself
        t.cli("keys", "rotate")

Settings: OSTIARY_TEST_POSTGRES_URL (the server to create the database on, default
postgres://postgres@127.0.0.1:5432/test).
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

ADMIN_URL = os.environ.get(
    "OSTIARY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)


def free_ports(n):
    """n distinct loopback ports free at the time of asking (held together so they differ)."""
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def status_of(url, timeout=2.0):
    """The HTTP status of GET url; None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def wait_for(url, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process for {url} exited with {process.returncode}")
        if status_of(url) == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {seconds} s")


def with_database(url, name):
    """url with its database (the path) replaced by name."""
    scheme, rest = url.split("://", 1)
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    return f"{scheme}://{authority}/{name}"


class Cluster:
    """A PostgreSQL cluster of the caller's own (initdb, trust on loopback), on a free port,
    that can be stopped and started again: for outage tests. Run as the `postgres` user when
    the caller is root (PostgreSQL refuses to run as root)."""

    def __init__(self):
        import shutil
        import tempfile

        self.dir = tempfile.mkdtemp(prefix="ostiary-cluster-")
        self.port = free_ports(1)[0]
        self.admin_url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.as_postgres = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.bin = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True
        ).stdout.strip() or "/usr/lib/postgresql/15/bin"
        if not os.path.exists(os.path.join(self.bin, "initdb")):
            versions = sorted(os.listdir("/usr/lib/postgresql"))
            self.bin = f"/usr/lib/postgresql/{versions[-1]}/bin"
        subprocess.run(
            self.as_postgres
            + [f"{self.bin}/initdb", "-D", f"{self.dir}/data", "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        self.start()

    def _ctl(self, *args):
        subprocess.run(
            self.as_postgres + [f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-w", *args],
            check=True,
            capture_output=True,
        )

    def start(self):
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._ctl("-o", options, "-l", f"{self.dir}/postgres.log", "start")

    def stop(self):
        """A fast shutdown: sessions are ended, the port closes."""
        self._ctl("-m", "fast", "stop")

    def remove(self):
        import shutil

        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Instance:
    def __init__(self, index, url, process, log):
        self.index = index
        self.url = url
        self.process = process
        self.log = log

    def kill(self):
        """SIGKILL: no shutdown, no journal copy; as a crashed machine."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


class Topology:
    def __init__(self, ostiary, instances, scratch, env=None, quiet=False, admin_url=ADMIN_URL):
        self.ostiary = ostiary
        self.admin_url = admin_url
        self.count = instances
        self.scratch = scratch
        self.extra_env = env or {}
        self.quiet = quiet
        self.instances = []
        self.haproxy = None
        self.database = f"ostiary_topology_{os.getpid()}_{secrets.token_hex(4)}"
        self.database_url = with_database(admin_url, self.database)
        lb_port, *ports = free_ports(1 + instances)
        self.lb = f"http://127.0.0.1:{lb_port}"
        self.ports = ports
        self.env = {
            **os.environ,
            "OAUTH2_DATABASE_URL": self.database_url,
            "OAUTH2_ISSUER": self.lb,
            "OAUTH2_JWT_SECRET": "topology-test-root-secret-" + "x" * 16,
            "OAUTH2_SESSION_KEY": "5a" * 64,
            # HAProxy adds X-Forwarded-For; the instances believe it from loopback only.
            "OAUTH2_TRUSTED_PROXIES": "127.0.0.1/32",
            "OAUTH2_METRICS_BIND": "off",
            **self.extra_env,
        }

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self):
        subprocess.run(
            ["psql", self.admin_url, "-qc", f"CREATE DATABASE {self.database}"], check=True
        )
        self.cli("migrate")
        for i, port in enumerate(self.ports):
            env = {
                **self.env,
                "OAUTH2_BIND": f"127.0.0.1:{port}",
                # Each its own journal, as on its own machine.
                "OAUTH2_AUDIT_JOURNAL": os.path.join(self.scratch, f"journal-{i}"),
            }
            log = open(os.path.join(self.scratch, f"instance-{i}.log"), "wb")
            process = subprocess.Popen(
                [self.ostiary, "serve", "--no-migrate"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            self.instances.append(Instance(i, f"http://127.0.0.1:{port}", process, log))
        for instance in self.instances:
            wait_for(f"{instance.url}/readyz", instance.process)
        config = os.path.join(self.scratch, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(self._haproxy_config())
        self.haproxy_log = open(os.path.join(self.scratch, "haproxy.log"), "wb")
        self.haproxy = subprocess.Popen(
            ["haproxy", "-db", "-f", config],
            stdout=self.haproxy_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_for(f"{self.lb}/readyz", self.haproxy)

    def _haproxy_config(self):
        servers = "\n".join(
            f"    server i{i} 127.0.0.1:{port} check" for i, port in enumerate(self.ports)
        )
        return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    # A request is sent again elsewhere only when the connection to a server failed (it never
    # reached it); one a server received and did not answer gets a 502, never a second try.
    retries 2
    option redispatch
    option forwardfor
    option http-keep-alive

frontend ostiary
    bind 127.0.0.1:{self.lb.rsplit(':', 1)[1]}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    # A check that waits behind a saturated CPU is not a dead server: 2 s to answer, three
    # misses to go down. A server that is gone refuses connections at once, and its requests
    # are sent to another (redispatch) before any check notices.
    timeout check 2s
    default-server inter 300ms fall 3 rise 2
{servers}
"""

    def cli(self, *args, stdin=None):
        """`ostiary ARGS` on the topology's database; its JSON output (None if not JSON)."""
        out = subprocess.run(
            [self.ostiary, *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"ostiary {' '.join(args)} failed: {out.stderr}")
        try:
            return json.loads(out.stdout)
        except ValueError:
            return None

    def sql(self, query):
        """One value of `query` on the topology's database, as text."""
        out = subprocess.run(
            ["psql", self.database_url, "-tAc", query],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def __exit__(self, *exc):
        for process in [self.haproxy] + [i.process for i in self.instances]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [self.haproxy] + [i.process for i in self.instances]:
            if process is None:
                continue
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        failed = exc and exc[0] is not None
        if failed and not self.quiet:
            for instance in self.instances:
                instance.log.flush()
                path = os.path.join(self.scratch, f"instance-{instance.index}.log")
                with open(path, "rb") as f:
                    tail = f.read()[-4000:].decode(errors="replace")
                print(f"===== instance {instance.index} (end of log) =====\n{tail}")
        subprocess.run(
            ["psql", self.admin_url, "-qc", f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)"],
            capture_output=True,
            check=False,
        )
        return False
