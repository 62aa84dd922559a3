//! The audit trail loses nothing: `ostiary serve` killed with SIGKILL under load, on both
//! backends, has every `token.issued` event whose response reached a client in its table
//! once it is restarted; and `audit list --follow` prints events as they are recorded.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ostiary_core::audit::{AuditEventType, AuditQuery};
use ostiary_store::Database;

use crate::on_both_backends;
use crate::support::{Backend, Scratch, launch};

on_both_backends!(no_event_whose_response_was_sent_is_lost_to_a_kill);

/// Clients sending token requests at once.
const CLIENTS: usize = 16;

async fn no_event_whose_response_was_sent_is_lost_to_a_kill(backend: Backend) {
    let scratch = Scratch::new();
    let Some((url, postgres)) = scratch.database_on(backend).await else {
        return;
    };
    let created = scratch
        .command(&[
            "client",
            "create",
            "--name",
            "svc",
            "--client-id",
            "svc",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
        ])
        .env("OAUTH2_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let secret =
        serde_json::from_slice::<serde_json::Value>(&created.stdout).unwrap()["client_secret"]
            .as_str()
            .unwrap()
            .to_owned();
    let serve = || {
        let mut command = scratch.command(&["serve"]);
        // Quiet logs: nobody drains the pipe while the load runs.
        command
            .env("OAUTH2_DATABASE_URL", &url)
            .env("RUST_LOG", "error");
        command
    };
    let (mut child, base, _) = launch(serve(), &[]).await;

    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (answered, stop) = (answered.clone(), stop.clone());
            let (base, secret) = (base.clone(), secret.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                while !stop.load(Ordering::SeqCst) {
                    let sent = http
                        .post(format!("{base}/token"))
                        .basic_auth("svc", Some(&secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == 200 => {
                            // Counted once the whole response is in.
                            if response.bytes().await.is_ok() {
                                answered.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Ok(response) => panic!("unexpected {}", response.status()),
                        // The server is gone.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for client in load {
        client.await.unwrap();
    }
    let answered = answered.load(Ordering::SeqCst);
    assert!(answered > 50, "the load ran ({answered} answers)");
    // The restarted server replays what the killed one had not yet copied from its journal
    // before it answers anything.
    let (mut restarted, _, _) = launch(serve(), &[]).await;
    restarted.kill().expect("SIGKILL");
    restarted.wait().unwrap();

    let db = Database::open(&url, 2).await.unwrap();
    let recorded = db
        .store()
        .list_audit_events(&AuditQuery {
            since: None,
            event: Some(AuditEventType::TokenIssued),
            subject: None,
            before: None,
            limit: u32::MAX,
        })
        .await
        .unwrap()
        .len();
    db.close().await;
    if let Some(postgres) = postgres {
        postgres.drop_database().await;
    }
    // Each client had at most one request in flight when the server was killed, whose
    // event may be recorded without its response having arrived; more would be duplicates.
    assert!(
        (answered..=answered + CLIENTS).contains(&recorded),
        "{answered} token responses were received, {recorded} token.issued events recorded"
    );
}

#[tokio::test]
async fn audit_list_follow_prints_events_as_they_are_recorded() {
    let scratch = Scratch::new();
    scratch.json(&["migrate"]);
    scratch.json(&[
        "client",
        "create",
        "--name",
        "First",
        "--client-id",
        "first",
    ]);
    let mut follower = scratch
        .command(&["audit", "list", "--follow", "--type", "client.created"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let next = || {
        received
            .recv_timeout(Duration::from_secs(10))
            .expect("a line")
    };
    let first: serde_json::Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(
        first["client_id"], "first",
        "what was there is listed first"
    );
    scratch.json(&["keys", "rotate", "--alg", "ES256"]);
    scratch.json(&[
        "client",
        "create",
        "--name",
        "Second",
        "--client-id",
        "second",
    ]);
    let second: serde_json::Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(second["event"], "client.created");
    assert_eq!(
        second["client_id"], "second",
        "new events follow, filtered by type"
    );
    follower.kill().unwrap();
    follower.wait().unwrap();
}
