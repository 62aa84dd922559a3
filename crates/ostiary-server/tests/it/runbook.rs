//! The incident runbook of docs/operations.md performed as an operator would, on running
//! `ostiary serve` processes and with the CLI, on both backends: a new root secret and a new
//! session key through rolling restarts, revoke-all, a client secret rotated with overlap,
//! and the audit trail read back; after each step, who is signed in, which tokens work and
//! what was recorded.

use std::process::{Child, Command};

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, Browser, Scratch, USER, USER_PASSWORD, launch};

on_both_backends!(the_incident_runbook_keeps_service_and_does_what_it_says);

const ISSUER: &str = "http://127.0.0.1:9";
const S1: &str = "the-first-root-secret-of-the-runbook";
const S2: &str = "the-second-root-secret-of-the-runbook";

fn k1() -> String {
    "1".repeat(128)
}

fn k2() -> String {
    "2".repeat(128)
}

/// The settings of one instance: root secret (and previous), session key (and previous).
struct Secrets<'a> {
    jwt: &'a str,
    jwt_previous: Option<&'a str>,
    session: String,
    session_previous: Option<String>,
}

struct Operator {
    scratch: Scratch,
    url: String,
}

impl Operator {
    fn command(&self, args: &[&str], secrets: &Secrets<'_>) -> Command {
        let mut command = self.scratch.command(args);
        command
            .env("OAUTH2_DATABASE_URL", &self.url)
            .env("OAUTH2_ISSUER", ISSUER)
            .env("OAUTH2_JWT_SECRET", secrets.jwt)
            .env("OAUTH2_SESSION_KEY", &secrets.session)
            .env("RUST_LOG", "error");
        if let Some(previous) = secrets.jwt_previous {
            command.env("OAUTH2_JWT_SECRET_PREVIOUS", previous);
        }
        if let Some(previous) = &secrets.session_previous {
            command.env("OAUTH2_SESSION_KEY_PREVIOUS", previous);
        }
        command
    }

    /// An admin command; its JSON output (`audit list`'s JSON lines as an array).
    fn run(&self, args: &[&str], secrets: &Secrets<'_>) -> Value {
        let out = self.command(args, secrets).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        if args.first() == Some(&"audit") {
            let lines = text.lines().map(|line| serde_json::from_str(line).unwrap());
            return Value::Array(lines.collect());
        }
        serde_json::from_str(&text).unwrap()
    }

    async fn start(&self, secrets: &Secrets<'_>) -> (Child, String) {
        let (child, base, _) = launch(self.command(&["serve"], secrets), &[]).await;
        (child, base)
    }
}

/// SIGTERM and a clean exit, as a rolling restart stops an instance.
fn stop(child: Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

async fn token(base: &str, secret: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth("svc", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    if response.status() != 200 {
        return None;
    }
    let json: Value = response.json().await.unwrap();
    json["access_token"].as_str().map(str::to_owned)
}

async fn active(base: &str, secret: &str, token: &str) -> bool {
    let response = reqwest::Client::new()
        .post(format!("{base}/introspect"))
        .basic_auth("svc", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "introspection answers");
    let json: Value = response.json().await.unwrap();
    json["active"] == true
}

async fn the_incident_runbook_keeps_service_and_does_what_it_says(backend: Backend) {
    let scratch = Scratch::new();
    let Some((url, postgres)) = scratch.database_on(backend).await else {
        return;
    };
    let op = Operator { scratch, url };
    let before = Secrets {
        jwt: S1,
        jwt_previous: None,
        session: k1(),
        session_previous: None,
    };
    let svc = op.run(
        &["client", "create", "--name", "svc", "--client-id", "svc"],
        &before,
    );
    let secret = svc["client_secret"].as_str().unwrap().to_owned();
    op.run(
        &[
            "client",
            "create",
            "--name",
            "web",
            "--client-id",
            "web",
            "--public",
            "--skip-consent",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--scope",
            "openid",
        ],
        &before,
    );
    let created = op
        .command(
            &["user", "create", "--username", USER, "--password-stdin"],
            &before,
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(USER_PASSWORD.as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(created.success());

    let (a, base_a) = op.start(&before).await;
    let browser = Browser::new(&base_a);
    let login = browser.get("/login").await;
    browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert!(browser.signed_in(&base_a, "web").await);
    let t1 = token(&base_a, &secret).await.unwrap();

    // 1. A new root secret, the old one as previous; then without it.
    let rotating = Secrets {
        jwt: S2,
        jwt_previous: Some(S1),
        ..before
    };
    let (b, base_b) = op.start(&rotating).await;
    let t2 = token(&base_a, &secret).await.unwrap();
    stop(a);
    assert!(browser.signed_in(&base_b, "web").await);
    assert!(active(&base_b, &secret, &t1).await && active(&base_b, &secret, &t2).await);
    let resealed = op.run(&["keys", "reseal"], &rotating);
    assert_eq!(
        resealed["resealed"],
        serde_json::json!([]),
        "the server did it"
    );
    assert_eq!(resealed["unopenable"], serde_json::json!([]));
    let new_secret = Secrets {
        jwt: S2,
        jwt_previous: None,
        session: k1(),
        session_previous: None,
    };
    let (c, base_c) = op.start(&new_secret).await;
    stop(b);
    assert!(browser.signed_in(&base_c, "web").await);
    let t3 = token(&base_c, &secret).await.unwrap();
    for t in [&t1, &t2, &t3] {
        assert!(active(&base_c, &secret, t).await);
    }

    // 2. A new session key in two rolling restarts; the user stays signed in.
    let phase_1 = Secrets {
        session_previous: Some(k2()),
        ..new_secret
    };
    let (d, base_d) = op.start(&phase_1).await;
    stop(c);
    assert!(browser.signed_in(&base_d, "web").await);
    let phase_2 = Secrets {
        jwt: S2,
        jwt_previous: None,
        session: k2(),
        session_previous: Some(k1()),
    };
    let (e, base_e) = op.start(&phase_2).await;
    assert!(
        browser.signed_in(&base_e, "web").await,
        "re-issued under the new key"
    );
    assert!(
        browser.signed_in(&base_d, "web").await,
        "and still read by phase 1"
    );
    stop(d);
    // Once phase 1 is gone, the browser's next visit re-issues its cookie under the new key
    // (phase 1 had re-issued it under the old one: harmless while both read both).
    assert!(browser.signed_in(&base_e, "web").await);
    let after = Secrets {
        jwt: S2,
        jwt_previous: None,
        session: k2(),
        session_previous: None,
    };
    let (f, base_f) = op.start(&after).await;
    stop(e);
    assert!(browser.signed_in(&base_f, "web").await);

    // 3. Revoke everything: signed out, every token issued so far inactive.
    let revoked = op.run(&["tokens", "revoke-all"], &after);
    assert_eq!(revoked["sessions"], 1, "{revoked}");
    assert!(!browser.signed_in(&base_f, "web").await);
    for t in [&t1, &t2, &t3] {
        assert!(!active(&base_f, &secret, t).await);
    }

    // 4. A new client secret; the old one works for the overlap.
    let rotated = op.run(
        &["client", "rotate-secret", "svc", "--keep-old", "1h"],
        &after,
    );
    let new_client_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    // Running instances see client changes within OAUTH2_CLIENT_CACHE_SECS (1 s).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let t4 = token(&base_f, &new_client_secret).await.unwrap();
    assert!(
        token(&base_f, &secret).await.is_some(),
        "the old secret, within the overlap"
    );
    assert!(active(&base_f, &new_client_secret, &t4).await);
    let shown = op.run(&["client", "show", "svc"], &after);
    assert!(shown["previous_secret_expires_at"].is_string(), "{shown}");

    // 5. The audit trail tells the story (the last instance stopped first: a running one
    // copies its journal to the database within about 50 ms, a stopping one at once).
    stop(f);
    let count = |event: &str| {
        op.run(&["audit", "list", "--type", event], &after)
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("login.succeeded"), 1);
    assert_eq!(count("tokens.revoked_all"), 1);
    assert_eq!(count("client.secret_rotated"), 1);
    assert_eq!(
        count("token.issued"),
        5,
        "t1 to t4, and the old secret's token"
    );
    if let Some(postgres) = postgres {
        postgres.drop_database().await;
    }
}
