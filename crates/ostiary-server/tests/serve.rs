//! `ostiary serve` as the README runs it: health, readiness, the development secret file,
//! and graceful shutdown on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::Scratch;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts `ostiary ARGS` on a free port with `env` and waits for `/healthz`.
async fn start(
    scratch: &Scratch,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, reqwest::Client) {
    let port = free_port();
    let mut command = scratch.command(args);
    command
        .env("OAUTH2_BIND", format!("127.0.0.1:{port}"))
        .env("OAUTH2_METRICS_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn ostiary serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_up(&client, &base, &mut child).await;
    (child, base, client)
}

async fn wait_until_up(client: &reqwest::Client, base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(resp) = client.get(format!("{base}/healthz")).send().await
            && resp.status().is_success()
        {
            return;
        }
        if let Some(status) = child.try_wait().expect("poll server") {
            panic!("server exited early with {status}");
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
