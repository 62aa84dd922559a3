//! The audit trail: one row per event type, with identifiers and never a secret.

use crate::support::{Scratch, TestApp, machine_client, stderr};
use ostiary_core::audit::{AuditEventType, AuditQuery, Outcome};

fn lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn admin_commands_write_their_events_without_secrets() {
    let scratch = Scratch::new();
    let created = scratch.json(&["client", "create", "--name", "Svc", "--client-id", "svc"]);
    let first_secret = created["client_secret"].as_str().unwrap().to_owned();
    let rotated = scratch.json(&["client", "rotate-secret", "svc"]);
    let second_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    scratch.json(&["client", "delete", "svc"]);
    let password = "a passphrase for erin";
    let out = scratch.run_with_stdin(
        &["user", "create", "--username", "erin", "--password-stdin"],
        password,
    );
    let user_id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    scratch.json(&["user", "disable", "erin"]);
    let kid = scratch.json(&["keys", "rotate"])["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    scratch.json(&["keys", "revoke", &kid]);

    let out = scratch.run(&["audit", "list"]);
    crate::support::assert_success(&out, &["audit", "list"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for secret in [first_secret.as_ref(), second_secret.as_ref(), password] {
        assert!(!text.contains(secret), "a secret reached the audit trail");
    }
    let events = lines(&out);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "client.created",
            "client.secret_rotated",
            "client.deleted",
            "user.created",
            "user.disabled",
            "key.rotated",
            "key.revoked"
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["actor"] == "cli" && e["outcome"] == "success")
    );
    assert_eq!(events[3]["subject"], user_id.as_str());
    assert_eq!(events[6]["subject"], kid.as_str());

    let filtered = lines(&scratch.run(&["audit", "list", "--type", "user.created"]));
    assert_eq!(filtered.len(), 1);
    let by_subject = lines(&scratch.run(&["audit", "list", "--subject", &kid]));
    assert_eq!(by_subject.len(), 2);
    assert!(lines(&scratch.run(&["audit", "list", "--since", "2100-01-01T00:00:00Z"])).is_empty());
    let bad = scratch.run(&["audit", "list", "--type", "token.minted"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("unknown event type"));
}

#[tokio::test]
async fn token_endpoint_events_carry_client_and_source_ip() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let base = app.listen().await;
    let http = reqwest::Client::new();
    let token_request = |secret: String| {
        http.post(format!("{base}/token"))
            .basic_auth("svc", Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    assert_eq!(token_request("wrong".into()).await.unwrap().status(), 401);
    let response: serde_json::Value = token_request(secret.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = response["access_token"].as_str().unwrap();
    let revoked = http
        .post(format!("{base}/revoke"))
        .basic_auth("svc", Some(&secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    app.state.audit.flush().await;
    let query = AuditQuery {
        since: None,
        event: None,
        subject: None,
        before: None,
        limit: 100,
    };
    let events: Vec<_> = (app.state.store.list_audit_events(&query).await.unwrap())
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let kinds: Vec<AuditEventType> = events.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        [
            AuditEventType::ClientAuthenticationFailed,
            AuditEventType::TokenIssued,
            AuditEventType::TokenRevoked
        ]
    );
    let failed = &events[0];
    assert_eq!(failed.outcome, Outcome::Failure);
    assert_eq!(failed.reason.as_deref(), Some("invalid_client"));
    assert_eq!(failed.client_id.as_deref(), Some("svc"));
    for event in &events {
        assert_eq!(event.source_ip.as_deref(), Some("127.0.0.1"));
        let fields = [
            &event.actor,
            event.subject.as_deref().unwrap_or_default(),
            event.reason.as_deref().unwrap_or_default(),
        ];
        for value in fields {
            assert!(
                !value.contains(&secret) && !value.contains(token),
                "{value}"
            );
        }
    }
    assert_eq!(events[1].actor, "client:svc");
    let jti = serde_json::from_slice::<serde_json::Value>(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap()["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        events[2].subject.as_deref(),
        Some(jti.as_str()),
        "revocation names the token by jti only"
    );
}

#[tokio::test]
async fn a_malformed_claimed_client_id_is_not_recorded() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let base = app.listen().await;
    let http = reqwest::Client::new();
    let hostile = format!("x\0y\nINFO forged line{}", "z".repeat(4096));
    let refused = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", hostile.as_str()),
            ("client_secret", "guess"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let issued = http
        .post(format!("{base}/token"))
        .basic_auth("svc", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 200);

    let failed =
        crate::support::audit_events(&app, AuditEventType::ClientAuthenticationFailed).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].client_id, None);
    assert_eq!(failed[0].reason.as_deref(), Some("invalid_client"));
    let issued = crate::support::audit_events(&app, AuditEventType::TokenIssued).await;
    assert_eq!(
        issued.len(),
        1,
        "the batch with the hostile request is written whole"
    );
}

#[tokio::test]
async fn browser_flow_events_name_the_user_and_never_carry_credentials() {
    use crate::support::{
        APP_LOGOUT_REDIRECT, Browser, USER_PASSWORD, add_user, redeem_code, serve_app, web_client,
    };
    let (app, base) = serve_app(&[]).await;
    let user = add_user(&app).await.id.to_string();
    let secret = app.client(web_client("webapp", false)).await.unwrap();
    let browser = Browser::new(&base);
    let (code, verifier) = browser.obtain_code("webapp", "openid").await;
    let (status, tokens) = redeem_code(&base, "webapp", Some(&secret), &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    // The same code again: a replay, which revokes the grant.
    let (status, _) = redeem_code(&base, "webapp", Some(&secret), &code, &verifier).await;
    assert_eq!(status, 400);
    let id_token = tokens["id_token"].as_str().unwrap();
    let mut logout = url::Url::parse(&format!("{base}/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", APP_LOGOUT_REDIRECT);
    assert_eq!(browser.get(logout.as_str()).await.status, 303);

    let expected = [
        (AuditEventType::LoginSucceeded, Outcome::Success),
        (AuditEventType::ConsentGranted, Outcome::Success),
        (AuditEventType::TokenIssued, Outcome::Success),
        (AuditEventType::ReuseDetected, Outcome::Failure),
        (AuditEventType::LoggedOut, Outcome::Success),
    ];
    let mut all = String::new();
    for (event, outcome) in expected {
        let rows = crate::support::audit_events(&app, event).await;
        assert_eq!(rows.len(), 1, "{event:?}: {rows:?}");
        let row = &rows[0];
        assert_eq!(row.outcome, outcome, "{event:?}");
        assert_eq!(row.subject.as_deref(), Some(user.as_str()), "{event:?}");
        assert!(row.source_ip.is_some(), "{event:?}");
        all.push_str(&format!("{row:?}"));
    }
    for secret in [
        secret.as_str(),
        USER_PASSWORD,
        code.as_str(),
        verifier.as_str(),
        tokens["access_token"].as_str().unwrap(),
        tokens["id_token"].as_str().unwrap(),
    ] {
        assert!(
            !all.contains(secret),
            "a credential reached the audit trail"
        );
    }
    assert_eq!(
        crate::support::audit_events(&app, AuditEventType::ConsentGranted).await[0]
            .client_id
            .as_deref(),
        Some("webapp")
    );
}

#[tokio::test]
async fn consent_revocation_and_revoke_all_are_audited_from_the_cli() {
    use ostiary_core::grant::Consent;
    let scratch = Scratch::new();
    scratch.json(&[
        "client",
        "create",
        "--name",
        "Web",
        "--client-id",
        "web",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--scope",
        "openid",
    ]);
    let out = scratch.run_with_stdin(
        &["user", "create", "--username", "erin", "--password-stdin"],
        "a passphrase for erin",
    );
    let user_id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    {
        let db = ostiary_store::Database::open(&scratch.database_url(), 1)
            .await
            .unwrap();
        db.store()
            .save_consent(&Consent {
                user_id: ostiary_core::user::UserId::parse(&user_id).unwrap(),
                client_id: ostiary_core::client::ClientId::parse("web").unwrap(),
                scopes: vec![ostiary_core::client::Scope::parse("openid").unwrap()],
                granted_at: time::OffsetDateTime::now_utc(),
            })
            .await
            .unwrap();
        db.close().await;
    }
    let listed = scratch.json(&["user", "consents", "erin"]);
    assert_eq!(listed["consents"][0]["client_id"], "web");
    let revoked = scratch.json(&["user", "revoke-consent", "erin", "--client", "web"]);
    assert_eq!(revoked["revoked"], true);
    let again = scratch.run(&["user", "revoke-consent", "erin", "--client", "web"]);
    assert_eq!(again.status.code(), Some(1), "nothing left to revoke");
    let all = scratch.json(&["tokens", "revoke-all"]);
    assert!(all["sessions"].is_u64() && all["grants"].is_u64() && all["codes"].is_u64());

    let consent = lines(&scratch.run(&["audit", "list", "--type", "consent.revoked"]));
    assert_eq!(consent.len(), 1);
    assert_eq!(consent[0]["subject"], user_id.as_str());
    assert_eq!(consent[0]["client_id"], "web");
    let incident = lines(&scratch.run(&["audit", "list", "--type", "tokens.revoked_all"]));
    assert_eq!(incident.len(), 1);
    assert_eq!(incident[0]["actor"], "cli");
}

crate::on_both_backends!(a_journal_left_by_a_stopped_process_is_replayed_once_at_start);

/// A segment whose process is gone (nobody holds its lock), of which the first event was
/// copied before the crash and the last line torn by it: the next instance to start copies
/// the rest exactly once, skips the torn line (its response was never sent), deletes the file
/// and forgets the segment.
async fn a_journal_left_by_a_stopped_process_is_replayed_once_at_start(
    backend: crate::support::Backend,
) {
    use ostiary_core::audit::JournalMark;
    let Some(app) = TestApp::on(backend, &[], std::sync::Arc::new(ostiary_core::SystemClock)).await
    else {
        return;
    };
    let line = |subject: &str| {
        format!(
            r#"{{"at":1800000000,"event":"login.failed","actor":"client:web","client_id":"web","subject":"{subject}","source_ip":"192.0.2.7","outcome":"failure","reason":"bad_password"}}"#
        ) + "\n"
    };
    let copied = line("copied");
    let contents = copied.clone() + &line("second") + &line("third") + r#"{"at":18000"#;
    let database = app
        .state
        .store
        .audit_journal_database("not the first")
        .await
        .unwrap();
    let segment = format!("{database}-0000000000000001-dead.jsonl");
    let segment = segment.as_str();
    std::fs::write(app.journal_dir().join(segment), contents).unwrap();
    // Another database's segment in the same directory is not this one's to replay.
    let foreign = "0123456789ab-0000000000000002-other.jsonl";
    std::fs::write(app.journal_dir().join(foreign), line("foreign")).unwrap();
    let first = ostiary_core::audit::AuditEvent::new(
        time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        AuditEventType::LoginFailed,
        "client:web",
    )
    .client("web")
    .subject("copied")
    .source_ip(Some("192.0.2.7".into()))
    .failed("bad_password");
    let mark = JournalMark {
        segment: segment.into(),
        from: 0,
        copied: copied.len() as u64,
    };
    app.state
        .store
        .append_audit_events(&[first], Some(&mark))
        .await
        .unwrap();

    let _next = app
        .instance_with(crate::support::test_secrets())
        .await
        .unwrap();
    let subjects: Vec<String> = crate::support::audit_events(&app, AuditEventType::LoginFailed)
        .await
        .into_iter()
        .map(|e| e.subject.unwrap())
        .collect();
    assert_eq!(subjects, ["copied", "second", "third"]);
    assert!(!app.journal_dir().join(segment).exists());
    assert!(app.journal_dir().join(foreign).exists());
    assert_eq!(
        app.state.store.audit_journal_copied(segment).await.unwrap(),
        0
    );
}

/// While PostgreSQL refuses the copy (its table taken away), token requests are still
/// answered, their events wait in the journal and the pending-bytes gauge says so; once the
/// table is back, every event is copied, once.
#[tokio::test]
async fn events_wait_in_the_journal_while_the_database_refuses_them() {
    use crate::support::{Backend, form_post};
    use tower::ServiceExt;
    let Some(app) = TestApp::on(
        Backend::Postgres,
        &[],
        std::sync::Arc::new(ostiary_core::SystemClock),
    )
    .await
    else {
        return;
    };
    let secret = app.client(machine_client("svc")).await.unwrap();
    app.postgres_execute("ALTER TABLE audit_events RENAME TO audit_events_parked")
        .await
        .unwrap();
    for _ in 0..3 {
        let request = form_post(
            "/token",
            "grant_type=client_credentials",
            Some(("svc", &secret)),
        );
        let response = app.router().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    app.state.audit.flush().await;
    assert!(app.state.audit.pending_bytes() > 0, "the copy was refused");

    app.postgres_execute("ALTER TABLE audit_events_parked RENAME TO audit_events")
        .await
        .unwrap();
    // The copier retries after a pause that doubles from 50 ms; a flush asks at once.
    app.state.audit.flush().await;
    assert_eq!(app.state.audit.pending_bytes(), 0);
    let issued = crate::support::audit_events(&app, AuditEventType::TokenIssued).await;
    assert_eq!(issued.len(), 3);
}
