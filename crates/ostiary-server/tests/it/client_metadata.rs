//! Client ID metadata documents: a client whose id is the URL of its document, served here on
//! a loopback port (plain http, which development allows), runs the code flow with PKCE and
//! refreshes; a host not allowed, a refused document, a private address and an expired copy
//! that can no longer be fetched each leave it an unknown client.

use std::sync::Arc;

use ostiary_core::SystemClock;
use ostiary_core::audit::AuditEventType;
use ostiary_core::client::ClientId;
use ostiary_core::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::on_both_backends;
use crate::support::{
    APP_REDIRECT, Backend, Browser, DocumentServer, Page, Reply, TestApp, USER, USER_PASSWORD,
    add_user, audit_events, code_request, jwt_claims, pkce, redeem_code, serve_app, serve_app_on,
    serve_app_with_clock, use_refresh_token,
};

on_both_backends!(a_metadata_document_client_signs_a_user_in_and_refreshes);

const PATH: &str = "/clients/agent.json";

/// The document of the client at `url`: public, code flow, `APP_REDIRECT`.
fn document(url: &str) -> Value {
    json!({
        "client_id": url,
        "client_name": "Agent",
        "redirect_uris": [APP_REDIRECT],
        "scope": "openid offline_access",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "logo_uri": "https://app.example.com/logo.png",
    })
}

/// Metadata documents allowed from the document server's address (development: plain http
/// to loopback is accepted).
const LOOPBACK_HOSTS: (&str, &str) = ("OAUTH2_CLIENT_METADATA_HOSTS", "127.0.0.1");

async fn discovery(base: &str, path: &str) -> Value {
    reqwest::get(format!("{base}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn authorize(base: &str, client_id: &str) -> Page {
    let (challenge, _) = pkce();
    Browser::new(base)
        .authorize(&code_request(client_id, "openid", "st", &challenge))
        .await
}

/// The page shown for a client that is not known: an error page, no redirect, no form.
fn assert_unknown_client(page: &Page) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.location().is_none(), "{:?}", page.location());
    assert!(page.body.contains("the client is unknown"), "{}", page.body);
}

async fn a_metadata_document_client_signs_a_user_in_and_refreshes(backend: Backend) {
    let documents = DocumentServer::start().await;
    let client_id = documents.url(PATH);
    documents.serve(PATH, Reply::json(&document(&client_id)));
    let Some((app, base)) = serve_app_on(backend, &[LOOPBACK_HOSTS], Arc::new(SystemClock)).await
    else {
        return;
    };
    add_user(&app).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let metadata = discovery(&base, path).await;
        assert_eq!(
            metadata["client_id_metadata_document_supported"], true,
            "{path}"
        );
    }

    let (challenge, verifier) = pkce();
    let browser = Browser::new(&base);
    let login = browser
        .authorize(&code_request(
            &client_id,
            "openid offline_access",
            "st",
            &challenge,
        ))
        .await;
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    // The host that serves the document, apart from the name the document claims.
    let host = format!("127.0.0.1:{}", documents.port);
    assert!(
        consent.body.contains(&format!(
            r#"Published by <strong class="host">{host}</strong>"#
        )),
        "{}",
        consent.body
    );
    assert!(consent.body.contains("<strong>Agent</strong>"));
    assert!(consent.body.contains("own claim"));
    let back = browser.submit_consent(&consent, "approve").await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert!(back.location().unwrap().as_str().starts_with(APP_REDIRECT));
    let code = back.redirect_param("code").expect("a code");

    let (status, tokens) = redeem_code(&base, &client_id, None, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["client_id"], client_id.as_str());
    assert_eq!(access["scope"], "openid offline_access");
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let (status, refreshed) = use_refresh_token(&base, &client_id, None, refresh).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);
    // The code was single-use for this client too.
    let (status, refused) = redeem_code(&base, &client_id, None, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    // One fetch served the whole flow; the client is stored, and its creation audited.
    assert_eq!(documents.requests(PATH), 1);
    let stored = app
        .state
        .store
        .find_client(&ClientId::parse_any(&client_id).unwrap())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.name, "Agent");
    assert!(stored.is_public() && !stored.skip_consent);
    let created = audit_events(&app, AuditEventType::ClientCreated).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].actor, "metadata_document");
    assert_eq!(created[0].subject.as_deref(), Some(client_id.as_str()));
}

#[tokio::test]
async fn a_host_not_allowed_is_an_unknown_client_and_nothing_is_fetched() {
    let documents = DocumentServer::start().await;
    let client_id = documents.url(PATH);
    documents.serve(PATH, Reply::json(&document(&client_id)));
    for hosts in [None, Some("app.example.com *.example.org")] {
        let vars: Vec<(&str, &str)> = hosts
            .map(|h| ("OAUTH2_CLIENT_METADATA_HOSTS", h))
            .into_iter()
            .collect();
        let (_app, base) = serve_app(&vars).await;
        let metadata = discovery(&base, "/.well-known/oauth-authorization-server").await;
        assert_eq!(
            metadata
                .get("client_id_metadata_document_supported")
                .is_some(),
            hosts.is_some(),
            "{hosts:?}"
        );
        assert_unknown_client(&authorize(&base, &client_id).await);
        let (_, verifier) = pkce();
        let (status, refused) = redeem_code(&base, &client_id, None, "code", &verifier).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
        assert_eq!(refused["error"], "invalid_client");
    }
    assert_eq!(documents.connections(), 0, "nothing reached the host");
}

#[tokio::test]
async fn refused_documents_leave_the_client_unknown_and_are_not_fetched_again_at_once() {
    let documents = DocumentServer::start().await;
    let good = documents.url("/good.json");
    documents.serve("/good.json", Reply::json(&document(&good)));
    let (_app, base) = serve_app(&[LOOPBACK_HOSTS]).await;
    let with = |path: &str, field: &str, value: Value| {
        let mut doc = document(&documents.url(path));
        doc[field] = value;
        Reply::json(&doc)
    };
    let mut padded = document(&documents.url("/large.json"));
    padded["padding"] = json!("x".repeat(16 * 1024));
    let mut chunked = padded.clone();
    chunked["client_id"] = json!(documents.url("/chunked.json"));
    let cases = [
        (
            "/other-id.json",
            with("/other-id.json", "client_id", json!(good)),
        ),
        ("/large.json", Reply::json(&padded)),
        ("/chunked.json", Reply::json(&chunked).chunked()),
        (
            "/redirect.json",
            Reply::raw(302, "application/json", Vec::new()).header("location", &good),
        ),
        (
            "/html.json",
            Reply::raw(
                200,
                "text/html",
                document(&documents.url("/html.json"))
                    .to_string()
                    .into_bytes(),
            ),
        ),
        (
            "/missing.json",
            Reply::raw(404, "application/json", b"{}".to_vec()),
        ),
        (
            "/machine.json",
            with(
                "/machine.json",
                "grant_types",
                json!(["client_credentials"]),
            ),
        ),
        (
            "/secret.json",
            with(
                "/secret.json",
                "token_endpoint_auth_method",
                json!("client_secret_basic"),
            ),
        ),
        (
            "/jwks-uri.json",
            with(
                "/jwks-uri.json",
                "jwks_uri",
                json!("https://app.example.com/jwks"),
            ),
        ),
        (
            "/bad-redirect.json",
            with(
                "/bad-redirect.json",
                "redirect_uris",
                json!(["javascript:alert(1)"]),
            ),
        ),
        (
            "/fragment.json",
            with(
                "/fragment.json",
                "redirect_uris",
                json!([format!("{APP_REDIRECT}#x")]),
            ),
        ),
        (
            "/not-json.json",
            Reply::raw(200, "application/json", b"{".to_vec()),
        ),
    ];
    for (path, reply) in cases {
        documents.serve(path, reply);
        let client_id = documents.url(path);
        assert_unknown_client(&authorize(&base, &client_id).await);
        assert_eq!(documents.requests(path), 1, "{path}");
        // The failure is remembered: no second fetch right away.
        assert_unknown_client(&authorize(&base, &client_id).await);
        assert_eq!(documents.requests(path), 1, "{path} fetched again");
    }
    assert_eq!(
        documents.requests("/good.json"),
        0,
        "the redirect was not followed"
    );
    // The twin: the good document makes a client.
    let login = authorize(&base, &good).await;
    assert!(login.is_login_form(), "{}", login.body);
    assert_eq!(documents.requests("/good.json"), 1);
}

#[tokio::test]
async fn private_addresses_are_never_connected_to() {
    let documents = DocumentServer::start().await;
    let port = documents.port;
    // https to names and addresses that are loopback: allowed hosts, refused addresses. The
    // name goes through the resolver's filter, the literals through the same check.
    let (_app, base) =
        serve_app(&[("OAUTH2_CLIENT_METADATA_HOSTS", "localhost 127.0.0.1 [::1]")]).await;
    for client_id in [
        format!("https://localhost:{port}{PATH}"),
        format!("https://127.0.0.1:{port}{PATH}"),
        format!("https://[::1]:{port}{PATH}"),
    ] {
        assert_unknown_client(&authorize(&base, &client_id).await);
    }
    assert_eq!(
        documents.connections(),
        0,
        "a loopback address was connected to"
    );

    // Production allows no plain http at all, not even to loopback.
    let client_id = documents.url(PATH);
    documents.serve(PATH, Reply::json(&document(&client_id)));
    let (_production, base) = serve_app(&[
        ("OAUTH2_ENV", "production"),
        ("OAUTH2_CLIENT_METADATA_HOSTS", "127.0.0.1 localhost"),
    ])
    .await;
    assert_unknown_client(&authorize(&base, &client_id).await);
    let by_name = format!("http://localhost:{port}{PATH}");
    assert_unknown_client(&authorize(&base, &by_name).await);
    assert_eq!(
        documents.connections(),
        0,
        "production fetched over plain http"
    );

    // The twin: development fetches the same URL.
    let (_development, base) = serve_app(&[LOOPBACK_HOSTS]).await;
    assert!(authorize(&base, &client_id).await.is_login_form());
    assert_eq!(documents.requests(PATH), 1);
}

#[tokio::test]
async fn a_copy_is_used_until_it_expires_and_then_only_if_fetched_again() {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let documents = DocumentServer::start().await;
    let client_id = documents.url(PATH);
    let id = ClientId::parse_any(&client_id).unwrap();
    let serve = |name: &str, max_age: &str| {
        let mut doc = document(&client_id);
        doc["client_name"] = json!(name);
        documents.serve(
            PATH,
            Reply::json(&doc).header("cache-control", &format!("public, max-age={max_age}")),
        );
    };
    serve("Agent", "120");
    let (app, base) = serve_app_with_clock(
        &[LOOPBACK_HOSTS, ("OAUTH2_CLIENT_CACHE_SECS", "0")],
        clock.clone(),
    )
    .await;
    let name = |app: &TestApp| {
        let store = app.state.store.clone();
        let id = id.clone();
        async move { store.find_client(&id).await.unwrap().unwrap().name }
    };

    assert!(authorize(&base, &client_id).await.is_login_form());
    clock.advance(Duration::seconds(119));
    assert!(authorize(&base, &client_id).await.is_login_form());
    assert_eq!(documents.requests(PATH), 1, "fresh for its max-age");

    // Expired: fetched again, and the stored client follows the document.
    serve("Agent 2", "120");
    clock.advance(Duration::seconds(2));
    assert!(authorize(&base, &client_id).await.is_login_form());
    assert_eq!(documents.requests(PATH), 2);
    assert_eq!(name(&app).await, "Agent 2");
    let updated = audit_events(&app, AuditEventType::ClientUpdated).await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].actor, "metadata_document");

    // Expired and unreachable: the stale copy is not used, and the failure is remembered.
    documents.serve(PATH, Reply::raw(503, "application/json", b"{}".to_vec()));
    clock.advance(Duration::seconds(121));
    assert_unknown_client(&authorize(&base, &client_id).await);
    assert_eq!(documents.requests(PATH), 3);
    clock.advance(Duration::seconds(29));
    assert_unknown_client(&authorize(&base, &client_id).await);
    assert_eq!(
        documents.requests(PATH),
        3,
        "retried within the failure window"
    );

    // Back, with an age below the minute: used for a minute all the same.
    serve("Agent 3", "5");
    clock.advance(Duration::seconds(2));
    assert!(authorize(&base, &client_id).await.is_login_form());
    assert_eq!(documents.requests(PATH), 4);
    assert_eq!(name(&app).await, "Agent 3");
    clock.advance(Duration::seconds(59));
    assert!(authorize(&base, &client_id).await.is_login_form());
    assert_eq!(documents.requests(PATH), 4, "at least a minute");
    clock.advance(Duration::seconds(2));
    assert!(authorize(&base, &client_id).await.is_login_form());
    assert_eq!(documents.requests(PATH), 5);
    assert_eq!(
        audit_events(&app, AuditEventType::ClientCreated)
            .await
            .len(),
        1,
        "created once, whatever the fetches"
    );
}

#[tokio::test]
async fn a_changed_document_narrows_or_replaces_the_client() {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let documents = DocumentServer::start().await;
    let client_id = documents.url(PATH);
    let id = ClientId::parse_any(&client_id).unwrap();
    let serve = |doc: Value| {
        documents.serve(
            PATH,
            Reply::json(&doc).header("cache-control", "max-age=60"),
        );
    };
    serve(document(&client_id));
    let (app, base) = serve_app_with_clock(
        &[LOOPBACK_HOSTS, ("OAUTH2_CLIENT_CACHE_SECS", "0")],
        clock.clone(),
    )
    .await;
    add_user(&app).await;
    let (code, verifier) = Browser::new(&base)
        .obtain_code(&client_id, "openid offline_access")
        .await;
    let (status, tokens) = redeem_code(&base, &client_id, None, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap();

    // offline_access taken away: what the client holds is revoked at the next fetch.
    let mut narrowed = document(&client_id);
    narrowed["scope"] = json!("openid");
    serve(narrowed);
    clock.advance(Duration::seconds(61));
    let (status, refused) = use_refresh_token(&base, &client_id, None, refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_grant");
    assert_eq!(documents.requests(PATH), 2);
    let updated = audit_events(&app, AuditEventType::ClientUpdated).await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].actor, "metadata_document");

    // Another authentication method: another client under the same URL.
    let mut signing = document(&client_id);
    signing["token_endpoint_auth_method"] = json!("private_key_jwt");
    signing["jwks"] = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1", "use": "sig",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }]});
    serve(signing);
    clock.advance(Duration::seconds(61));
    assert!(authorize(&base, &client_id).await.is_login_form());
    let stored = app.state.store.find_client(&id).await.unwrap().unwrap();
    assert_eq!(stored.auth_method.as_str(), "private_key_jwt");
    assert!(stored.jwks.is_some());
    let deleted = audit_events(&app, AuditEventType::ClientDeleted).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].actor, "metadata_document");
    assert_eq!(
        audit_events(&app, AuditEventType::ClientCreated)
            .await
            .len(),
        2
    );
}
