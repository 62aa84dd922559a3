//! `ostiary serve` as the README runs it: health, readiness, the development secret file,
//! graceful shutdown on SIGTERM, and what slow, idle and stalled clients get.

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Scratch, free_port, launch};

/// Starts `ostiary ARGS` on a free port with `env` and waits for `/healthz`.
async fn start(
    scratch: &Scratch,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, reqwest::Client) {
    launch(scratch.command(args), env).await
}

#[tokio::test]
async fn serves_health_and_readiness_then_stops_cleanly_on_sigterm() {
    let scratch = Scratch::new();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let (child, base, client) = start(
        &scratch,
        &["serve"],
        &[("OAUTH2_METRICS_BIND", &metrics_addr)],
    )
    .await;
    let metrics = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("oauth2_server_http_requests_total")
    );

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );

    // Development generated its JWT secret once, readable by the owner only.
    let secret_file = scratch.dir.path().join("ostiary.db.jwt-secret");
    let mode = std::fs::metadata(&secret_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let db_mode = std::fs::metadata(scratch.db_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(db_mode & 0o077, 0, "database file readable by others");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "exit after SIGTERM: {}",
        output.status
    );
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("OAUTH2_JWT_SECRET is not set"),
        "dev warning missing: {logs}"
    );
    assert!(
        logs.contains("OAUTH2_SESSION_KEY is not set"),
        "dev warning missing: {logs}"
    );
    assert!(!logs.contains(&std::fs::read_to_string(&secret_file).unwrap()));
    assert!(output.stdout.is_empty(), "serve keeps stdout clean");
}

#[tokio::test]
async fn json_logs_carry_request_ids_and_no_query_strings() {
    let scratch = Scratch::new();
    let (child, base, client) = start(&scratch, &["serve", "--log-format", "json"], &[]).await;
    client
        .get(format!("{base}/healthz?code=SECRETCODE"))
        .send()
        .await
        .unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["span"]["request_id"].is_string()),
        "{logs}"
    );
    assert!(
        !logs.contains("SECRETCODE"),
        "query string reached the logs"
    );
}

/// The CLI is another process sharing the database: the running server must follow its key
/// rotation and revocation within the refresh interval, without a restart.
#[tokio::test]
async fn a_running_server_follows_key_rotation_and_revocation_from_the_cli() {
    let scratch = Scratch::new();
    let created = scratch.json(&[
        "client",
        "create",
        "--name",
        "Svc",
        "--client-id",
        "svc",
        "--grant-type",
        "client_credentials",
        "--audience",
        "https://api.example.com",
    ]);
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let (mut child, base, client) = start(
        &scratch,
        &["serve"],
        // Quiet: stderr is piped and this test never reads it.
        &[("OAUTH2_KEY_REFRESH_SECS", "1"), ("RUST_LOG", "warn")],
    )
    .await;

    let get_token = || async {
        let response: serde_json::Value = client
            .post(format!("{base}/token"))
            .basic_auth("svc", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["access_token"].as_str().unwrap().to_owned()
    };
    let active = |token: String| {
        let client = client.clone();
        let base = base.clone();
        let secret = secret.clone();
        async move {
            let answer: serde_json::Value = client
                .post(format!("{base}/introspect"))
                .basic_auth("svc", Some(&secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["active"].as_bool().unwrap()
        }
    };
    let old_token = get_token().await;
    // One key per algorithm: ES256 signs access tokens, all three may sign ID tokens.
    let keys = scratch.json(&["keys", "list"]);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let es256 = keys.iter().find(|k| k["alg"] == "ES256").unwrap();
    let old_kid = es256["kid"].as_str().unwrap().to_owned();

    let rotated = scratch.json(&["keys", "rotate"]);
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jwks: serde_json::Value = client
            .get(format!("{base}/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kids: Vec<String> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        if kids.contains(&new_kid) {
            assert!(kids.contains(&old_kid), "the retired key stays published");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server never saw the rotated key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        active(old_token.clone()).await,
        "tokens of the retired key stay valid"
    );

    scratch.json(&["keys", "revoke", &old_kid]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while active(old_token.clone()).await {
        assert!(Instant::now() < deadline, "revoked key still trusted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(active(get_token().await).await, "the new key keeps signing");
    let listed = scratch.json(&["keys", "list"]);
    let states: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert!(states.contains(&(old_kid.as_str(), "revoked")));
    assert!(states.contains(&(new_kid.as_str(), "active")));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// A running server that a failing test does not leave behind: killed when dropped.
struct Server(Option<Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends SIGTERM and expects a clean exit: the drain ends even with slow sockets around.
fn stop(mut server: Server) {
    let child = server.0.take().unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "exit after SIGTERM: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// How a held-open connection misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slow {
    /// Sends a request head a byte at a time and never finishes it.
    Trickle,
    /// Connects and sends nothing.
    Silent,
    /// Makes one request, reads the answer, then keeps the connection without using it.
    Idle,
}

/// Opens a connection to `addr` that behaves as `kind`, reports on `connected` once it has
/// done its part, and returns when the server closes it: how long it stayed open, and
/// everything the server sent.
async fn hold(
    addr: String,
    kind: Slow,
    connected: tokio::sync::mpsc::Sender<()>,
    open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> (Duration, Vec<u8>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let opened = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    match kind {
        Slow::Trickle => writer
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap(),
        Slow::Idle => writer
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap(),
        Slow::Silent => {}
    }
    open.fetch_add(1, Ordering::SeqCst);
    connected.send(()).await.unwrap();
    let misbehave = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // Once the server has closed, writes fail; the read side reports the close.
            if kind == Slow::Trickle && writer.write_all(b"a").await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let until_closed = async {
        let mut received = Vec::new();
        let mut buf = [0_u8; 1024];
        while let Ok(n @ 1..) = reader.read(&mut buf).await {
            received.extend_from_slice(&buf[..n]);
        }
        received
    };
    let received = tokio::select! {
        received = until_closed => received,
        () = misbehave => unreachable!(),
    };
    open.fetch_sub(1, Ordering::SeqCst);
    (opened.elapsed(), received)
}

/// Opens `count` connections of each kind in `kinds` (in turn) and waits until all have done
/// their part; returns their tasks and the number still open.
async fn hold_many(
    base: &str,
    kinds: &[Slow],
    count: usize,
) -> (
    Vec<(Slow, tokio::task::JoinHandle<(Duration, Vec<u8>)>)>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let addr = base.trim_start_matches("http://").to_owned();
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (connected, mut all_connected) = tokio::sync::mpsc::channel(count);
    // In batches, so that a busy moment of the server cannot overflow the listen backlog:
    // a dropped SYN is retried only a second later, which would blur what the tests time.
    let mut tasks = Vec::with_capacity(count);
    for start in (0..count).step_by(100) {
        let batch = start..(start + 100).min(count);
        for i in batch.clone() {
            let kind = kinds[i % kinds.len()];
            let task = tokio::spawn(hold(addr.clone(), kind, connected.clone(), open.clone()));
            tasks.push((kind, task));
        }
        for _ in batch {
            all_connected.recv().await.unwrap();
        }
    }
    (tasks, open)
}

/// A fresh connection for every call: a pooled one would not show whether new clients get in.
async fn healthz(base: &str) -> reqwest::StatusCode {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .status()
}

/// Scheduling slack for a busy machine: closes are asserted within timeout + this.
const MARGIN: Duration = Duration::from_secs(3);

/// A thousand sockets that trickle headers, send nothing, or sit idle after a request: each
/// is closed by its timeout, and meanwhile `/healthz` answers new clients at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_while_health_stays_reachable() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
    const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
    // This process holds the client ends: make room for them where the soft limit is low.
    let descriptors = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let count = 1000.min(usize::try_from(descriptors).unwrap().saturating_sub(256));
    let scratch = Scratch::new();
    let (server, base, _) = start(
        &scratch,
        &["serve"],
        &[
            ("OAUTH2_HTTP_HEADER_TIMEOUT_SECS", "3"),
            ("OAUTH2_HTTP_IDLE_TIMEOUT_SECS", "2"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    let server = Server(Some(server));
    let (tasks, open) = hold_many(&base, &[Slow::Trickle, Slow::Silent, Slow::Idle], count).await;
    for _ in 0..3 {
        assert_eq!(healthz(&base).await, 200);
    }
    // Answered before any of them was closed (the idle ones go first, after 2 s): new
    // clients did not wait for slow ones to be cleared away.
    assert_eq!(
        open.load(std::sync::atomic::Ordering::SeqCst),
        count,
        "/healthz was only answered after slow connections were closed"
    );

    for (kind, task) in tasks {
        let timeout = if kind == Slow::Idle {
            IDLE_TIMEOUT
        } else {
            HEADER_TIMEOUT
        };
        let (lived, received) = tokio::time::timeout(timeout + MARGIN, task)
            .await
            .unwrap_or_else(|_| panic!("a {kind:?} connection outlived {timeout:?} + margin"))
            .unwrap();
        assert!(
            lived >= timeout / 2,
            "{kind:?} closed after {lived:?}, before its timeout"
        );
        if kind == Slow::Idle {
            assert!(
                received.starts_with(b"HTTP/1.1 200 "),
                "idle: got no answer"
            );
        }
    }
    assert_eq!(healthz(&base).await, 200);
    stop(server);
}

/// The issue as reported: with a soft descriptor limit of 128, 150 idle sockets made
/// `/healthz` unreachable. The server raises its soft limit to the hard one at start.
#[tokio::test]
async fn a_low_soft_descriptor_limit_is_raised_at_start() {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    if hard < 1024 {
        eprintln!("skipped: the hard descriptor limit ({hard}) leaves nothing to raise to");
        return;
    }
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let scratch = Scratch::new();
    let binary = scratch.command(&["serve"]);
    let mut command = Command::new("sh");
    command
        .args(["-c", "ulimit -Sn 128 && exec \"$0\" serve"])
        .arg(binary.get_program())
        .env_clear()
        .stdin(Stdio::null());
    for (key, value) in binary.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    if let Some(dir) = binary.get_current_dir() {
        command.current_dir(dir);
    }
    let (server, base, _) = launch(command, &[("RUST_LOG", "warn")]).await;
    let server = Server(Some(server));

    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", server.0.as_ref().unwrap().id()))
            .unwrap();
    let open_files: Vec<u64> = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .unwrap()
        .split_whitespace()
        .take(2)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(open_files, [hard, hard], "soft limit not raised: {limits}");

    let (_tasks, open) = hold_many(&base, &[Slow::Silent], 150).await;
    assert_eq!(healthz(&base).await, 200);
    assert_eq!(open.load(std::sync::atomic::Ordering::SeqCst), 150);
    // Shutdown does not wait for sockets that never sent a request.
    stop(server);
}

/// With the cap full of silent sockets a new client waits in the backlog (the descriptors
/// stay within budget) and is served once the header timeout has cleared some away.
#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let scratch = Scratch::new();
    let (server, base, probe) = start(
        &scratch,
        &["serve"],
        &[
            ("OAUTH2_HTTP_MAX_CONNECTIONS", "4"),
            ("OAUTH2_HTTP_HEADER_TIMEOUT_SECS", "1"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    let server = Server(Some(server));
    drop(probe);
    let (tasks, open) = hold_many(&base, &[Slow::Silent], 4).await;
    assert_eq!(healthz(&base).await, 200);
    assert!(
        open.load(std::sync::atomic::Ordering::SeqCst) < 4,
        "served a fifth connection while four were open"
    );
    for (_, task) in tasks {
        tokio::time::timeout(Duration::from_secs(1) + MARGIN, task)
            .await
            .unwrap()
            .unwrap();
    }
    stop(server);
}

/// Writes `request` on a new connection and reads one response: status, head, JSON body.
async fn raw_exchange(
    base: &str,
    request: &[u8],
    wait: Duration,
) -> (u16, String, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let read = async {
        let mut data = Vec::new();
        let mut buf = [0_u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a response: {data:?}");
            data.extend_from_slice(&buf[..n]);
            let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed inside the response body");
                data.extend_from_slice(&buf[..n]);
            }
            let status = head[9..12].parse().unwrap();
            let body = serde_json::from_slice(&data[end + 4..end + 4 + length])
                .unwrap_or_else(|_| panic!("not JSON: {head}"));
            return (status, head, body);
        }
    };
    tokio::time::timeout(wait, read)
        .await
        .expect("no response in time")
}

/// A declared body beyond the limit is refused at once (413), one that stalls gets 408 after
/// the body timeout: both RFC-shaped client errors, never the 503 of a handler timeout.
#[tokio::test]
async fn oversized_bodies_get_413_at_once_and_stalled_bodies_408() {
    let scratch = Scratch::new();
    let (server, base, _) = start(
        &scratch,
        &["serve"],
        &[("OAUTH2_HTTP_BODY_TIMEOUT_SECS", "1"), ("RUST_LOG", "warn")],
    )
    .await;
    let server = Server(Some(server));
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let check = |status: u16, expected: u16, head: &str, body: &serde_json::Value| {
        assert_eq!(status, expected, "{head}\n{body}");
        assert_eq!(body["error"], "invalid_request", "{body}");
        assert!(body["error_description"].is_string(), "{body}");
        assert!(
            head.to_ascii_lowercase()
                .contains("cache-control: no-store"),
            "{head}"
        );
    };

    // A 413 (not a 408) shows the server did not wait for the body.
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n{form}Content-Length: 1000000000000\r\n\r\n"
    );
    let (status, head, body) = raw_exchange(&base, request.as_bytes(), MARGIN).await;
    check(status, 413, &head, &body);

    let request = format!(
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n{form}Content-Length: 100\r\n\r\ngrant_type"
    );
    let started = Instant::now();
    let (status, head, body) =
        raw_exchange(&base, request.as_bytes(), Duration::from_secs(1) + MARGIN).await;
    check(status, 408, &head, &body);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "408 too early"
    );

    // Complete bodies still reach the handler.
    let (status, head, body) = raw_exchange(
        &base,
        format!(
            "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n{form}Content-Length: 29\r\n\r\ngrant_type=client_credentials"
        )
        .as_bytes(),
        MARGIN,
    )
    .await;
    assert_eq!(status, 401, "{head}\n{body}");
    assert_eq!(body["error"], "invalid_client");
    stop(server);
}
