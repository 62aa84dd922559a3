//! The real `ostiary serve` as a child process on a free loopback port.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts `command` (the binary, or a shell that execs it) on a free port with `env`, and
/// waits for `/healthz`: the child, its base URL and a client.
pub async fn launch(
    mut command: Command,
    env: &[(&str, &str)],
) -> (Child, String, reqwest::Client) {
    let port = free_port();
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

pub async fn wait_until_up(client: &reqwest::Client, base: &str, child: &mut Child) {
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
