//! Dynamic client registration (RFC 7591) and a registered client's management of itself
//! (RFC 7592): gated by the operator's initial access tokens unless open, under the rules of
//! `client create` and the registration policy, with every refusal RFC-shaped.

use std::sync::Arc;

use ostiary_core::SystemClock;
use ostiary_core::admin::{Actor, Admin};
use ostiary_core::audit::AuditEventType;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    APP_REDIRECT, Backend, Browser, ClientKey, TestApp, add_user, audit_events, code_request, pkce,
    post_client_form, redeem_code, serve_app, serve_app_on, web_client,
};

on_both_backends!(
    a_client_registers_with_an_initial_access_token_and_logs_a_user_in,
    a_client_reads_updates_and_deletes_its_registration,
);

/// An initial access token for `uses` registrations, issued as `registration-token create`
/// issues one; (token, token id).
async fn initial_access_token(app: &TestApp, uses: u32) -> (String, String) {
    let admin = Admin::new(
        app.state.store.clone(),
        Arc::new(app.state.audit.clone()),
        Arc::new(SystemClock),
    );
    let (record, token) = admin
        .create_registration_token(&Actor::Cli, None, Some(uses))
        .await
        .unwrap();
    (token.expose().to_owned(), record.token_id)
}

/// Sends `method` to `{base}{path}` with a JSON body (if any) and a Bearer token (if any).
async fn call(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn register(base: &str, token: Option<&str>, metadata: &Value) -> (StatusCode, Value) {
    let (status, headers, body) = call(
        reqwest::Method::POST,
        &format!("{base}/register"),
        token,
        Some(metadata),
    )
    .await;
    if status.is_success() {
        assert_eq!(
            headers["cache-control"], "no-store",
            "credentials are never cached"
        );
    }
    (status, body)
}

fn web_metadata() -> Value {
    json!({
        "client_name": "Agent",
        "redirect_uris": [APP_REDIRECT],
        "scope": "openid profile offline_access",
        "software_statement": "ignored.unknown.metadata",
        "logo_uri": "https://app.example.com/logo.png",
    })
}

async fn a_client_registers_with_an_initial_access_token_and_logs_a_user_in(backend: Backend) {
    let Some((app, base)) = serve_app_on(backend, &[], Arc::new(SystemClock)).await else {
        return;
    };
    add_user(&app).await;
    let (token, token_id) = initial_access_token(&app, 1).await;
    let discovery: Value = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["registration_endpoint"],
        format!("{base}/register")
    );

    let (status, registered) = register(&base, Some(&token), &web_metadata()).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let secret = registered["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(registered["client_secret_expires_at"], 0);
    assert_eq!(
        registered["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(
        registered["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(registered["response_types"], json!(["code"]));
    assert_eq!(registered["redirect_uris"], json!([APP_REDIRECT]));
    assert_eq!(registered["scope"], "openid profile offline_access");
    assert_eq!(registered["client_name"], "Agent");
    assert_eq!(
        registered["registration_client_uri"],
        format!("{base}/register/{client_id}")
    );
    assert_eq!(
        registered["registration_access_token"]
            .as_str()
            .unwrap()
            .len(),
        43
    );
    assert!(registered.get("software_statement").is_none());
    assert!(registered.get("logo_uri").is_none());

    // The registered client runs the code flow; its user is asked for consent.
    let (challenge, verifier) = pkce();
    let browser = Browser::new(&base);
    let mut page = browser
        .authorize(&code_request(
            &client_id,
            "openid offline_access",
            "st",
            &challenge,
        ))
        .await;
    page = browser
        .submit_login(&page, crate::support::USER, crate::support::USER_PASSWORD)
        .await;
    assert!(
        page.is_consent_form(),
        "a registered client is never first-party"
    );
    assert!(page.body.contains("Agent"), "{}", page.body);
    page = browser.submit_consent(&page, "approve").await;
    let code = page.redirect_param("code").expect("a code");
    let (status, tokens) = redeem_code(&base, &client_id, Some(&secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["refresh_token"].is_string());

    // The token was good for one registration.
    let (status, refused) = register(&base, Some(&token), &web_metadata()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"], "invalid_token");

    let created = audit_events(&app, AuditEventType::ClientCreated).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].actor, format!("registration:{token_id}"));
    assert_eq!(created[0].subject.as_deref(), Some(client_id.as_str()));
}

async fn a_client_reads_updates_and_deletes_its_registration(backend: Backend) {
    let vars = [
        ("OAUTH2_REGISTRATION", "open"),
        ("OAUTH2_CLIENT_CACHE_SECS", "0"),
    ];
    let Some((app, base)) = serve_app_on(backend, &vars, Arc::new(SystemClock)).await else {
        return;
    };
    let (status, registered) = register(&base, None, &web_metadata()).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let secret = registered["client_secret"].as_str().unwrap().to_owned();
    let access = registered["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = registered["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, other) = register(&base, None, &web_metadata()).await;
    let other_access = other["registration_access_token"].as_str().unwrap();

    // Read: the registration as it is, without credentials.
    let (status, _, read) = call(reqwest::Method::GET, &uri, Some(&access), None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["client_id"], client_id.as_str());
    assert_eq!(read["redirect_uris"], json!([APP_REDIRECT]));
    assert!(read.get("client_secret").is_none());
    assert_eq!(read["registration_access_token"], access.as_str());
    for token in [None, Some("wrong"), Some(other_access)] {
        let (status, headers, refused) = call(reqwest::Method::GET, &uri, token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
        assert_eq!(refused["error"], "invalid_token");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer ")
        );
    }
    // An operator's client cannot be managed here, whatever the token.
    app.client(web_client("operators", false)).await;
    let (status, _, _) = call(
        reqwest::Method::GET,
        &format!("{base}/register/operators"),
        Some(&access),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Update: the metadata are replaced as a whole.
    let mut update = json!({
        "client_id": client_id,
        "client_secret": secret,
        "client_name": "Agent 2",
        "redirect_uris": ["https://app.example.com/cb2"],
        "scope": "openid",
        "token_endpoint_auth_method": "client_secret_basic",
    });
    let (status, _, updated) = call(reqwest::Method::PUT, &uri, Some(&access), Some(&update)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["client_name"], "Agent 2");
    assert_eq!(
        updated["redirect_uris"],
        json!(["https://app.example.com/cb2"])
    );
    assert_eq!(updated["scope"], "openid");
    let (_, _, read) = call(reqwest::Method::GET, &uri, Some(&access), None).await;
    assert_eq!(read["client_name"], "Agent 2");

    let refusals = [
        (
            "client_id",
            json!("someone-else"),
            "invalid_client_metadata",
        ),
        (
            "client_secret",
            json!("not-the-secret"),
            "invalid_client_metadata",
        ),
        (
            "token_endpoint_auth_method",
            json!("none"),
            "invalid_client_metadata",
        ),
        (
            "grant_types",
            json!(["client_credentials"]),
            "invalid_client_metadata",
        ),
        (
            "redirect_uris",
            json!(["javascript:alert(1)"]),
            "invalid_redirect_uri",
        ),
    ];
    for (field, value, error) in refusals {
        let mut bad = update.clone();
        bad[field] = value;
        let (status, _, refused) =
            call(reqwest::Method::PUT, &uri, Some(&access), Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {refused}");
        assert_eq!(refused["error"], error, "{field}");
    }
    update.as_object_mut().unwrap().remove("client_id");
    let (status, _, refused) = call(reqwest::Method::PUT, &uri, Some(&access), Some(&update)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"], "invalid_client_metadata");

    // Delete: the client and its token are gone.
    let (status, _, _) = call(reqwest::Method::DELETE, &uri, Some(&access), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(reqwest::Method::GET, &uri, Some(&access), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, refused) = post_client_form(
        &base,
        "/token",
        &client_id,
        Some(&secret),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");

    let actor = format!("client:{client_id}");
    let updated = audit_events(&app, AuditEventType::ClientUpdated).await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].actor, actor);
    let deleted = audit_events(&app, AuditEventType::ClientDeleted).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].actor, actor);
    let created = audit_events(&app, AuditEventType::ClientCreated).await;
    assert!(created.iter().all(|e| e.actor == "registration:open"));
}

#[tokio::test]
async fn registration_needs_a_usable_initial_access_token_by_default() {
    let (app, base) = serve_app(&[]).await;
    // No token at all: the bare challenge (RFC 6750 3.1); a wrong one: invalid_token.
    let url = format!("{base}/register");
    let (status, headers, refused) =
        call(reqwest::Method::POST, &url, None, Some(&web_metadata())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"], "invalid_token");
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="ostiary""#);
    let (status, headers, _) = call(
        reqwest::Method::POST,
        &url,
        Some("a-guess"),
        Some(&web_metadata()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="ostiary", error="invalid_token""#
    );
    let failures = audit_events(&app, AuditEventType::ClientAuthenticationFailed).await;
    assert_eq!(failures.len(), 1, "the guess is audited");
    assert_eq!(failures[0].reason.as_deref(), Some("invalid_token"));
    // Spent: a token of two uses registers two clients, then none.
    let (token, _) = initial_access_token(&app, 2).await;
    for _ in 0..2 {
        let (status, body) = register(&base, Some(&token), &web_metadata()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = register(&base, Some(&token), &web_metadata()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.state.store.list_clients().await.unwrap().len(), 2);
}

#[tokio::test]
async fn hostile_metadata_is_refused_as_rfc_7591_says() {
    let (_app, base) = serve_app(&[("OAUTH2_REGISTRATION", "open")]).await;
    let too_many: Vec<String> = (0..33)
        .map(|i| format!("https://app.example.com/cb{i}"))
        .collect();
    let uri_cases = [
        json!(["javascript:alert(1)"]),
        json!(["data:text/html,hi"]),
        json!(["https://app.example.com/cb#fragment"]),
        json!(["https://user:pw@app.example.com/cb"]),
        json!(["https://app.example.com/c b"]),
        json!(too_many),
    ];
    for uris in uri_cases {
        let (status, refused) = register(&base, None, &json!({ "redirect_uris": uris })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uris}: {refused}");
        assert_eq!(refused["error"], "invalid_redirect_uri", "{uris}");
    }
    let logout = json!({
        "redirect_uris": [APP_REDIRECT],
        "post_logout_redirect_uris": ["javascript:x"],
    });
    let (status, refused) = register(&base, None, &logout).await;
    assert_eq!(
        (status, &refused["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_redirect_uri"))
    );

    let metadata_cases = [
        json!({ "grant_types": ["password"] }),
        json!({ "grant_types": ["implicit"] }),
        json!({ "grant_types": ["client_credentials"] }),
        // Without the operator's token: the code and refresh grants only.
        json!({ "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"] }),
        json!({ "grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"] }),
        json!({ "response_types": ["token"] }),
        json!({ "response_types": ["code"], "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"] }),
        json!({ "scope": "openid admin" }),
        json!({ "jwks_uri": "https://127.0.0.1/keys" }),
        json!({ "jwks": { "keys": [] } }),
        json!({ "token_endpoint_auth_method": "client_secret_jwt" }),
        json!({ "token_endpoint_auth_method": "private_key_jwt" }),
        json!({ "id_token_signed_response_alg": "HS256" }),
        json!({ "id_token_signed_response_alg": "none" }),
        json!({ "client_name": "a\u{0}b" }),
        json!({ "client_name": "x".repeat(201) }),
        json!({ "redirect_uris": "https://app.example.com/cb" }),
        json!({ "dpop_bound_access_tokens": "yes" }),
    ];
    for mut metadata in metadata_cases {
        if metadata.get("redirect_uris").is_none() {
            metadata["redirect_uris"] = json!([APP_REDIRECT]);
        }
        let (status, refused) = register(&base, None, &metadata).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{metadata}: {refused}");
        assert_eq!(refused["error"], "invalid_client_metadata", "{metadata}");
    }

    // Not one JSON object.
    let client = reqwest::Client::new();
    let url = format!("{base}/register");
    // A name given twice, which a policy in front might read as the first value.
    let twice = format!(
        r#"{{"redirect_uris":["{APP_REDIRECT}"],"redirect_uris":["https://evil.example/cb"]}}"#
    );
    // Deeper: a valid key whose `kid` is given twice (once, the same body registers: below).
    let with_key = |jwks: &str| {
        format!(
            r#"{{"redirect_uris":["{APP_REDIRECT}"],"token_endpoint_auth_method":"private_key_jwt","jwks":{jwks}}}"#
        )
    };
    let jwks = ClientKey::generate().jwks();
    assert!(jwks.contains(r#""kid":"k1""#), "{jwks}");
    let twice_nested = with_key(&jwks.replace(r#""kid":"k1""#, r#""kid":"k1","kid":"k2""#));
    for body in [
        "[1,2]",
        "{",
        "null",
        "\"x\"",
        twice.as_str(),
        twice_nested.as_str(),
    ] {
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let refused: Value = response.json().await.unwrap();
        assert_eq!(refused["error"], "invalid_client_metadata", "{body}");
    }
    let once = client
        .post(&url)
        .header("content-type", "application/json")
        .body(with_key(&jwks))
        .send()
        .await
        .unwrap();
    assert_eq!(once.status(), StatusCode::CREATED);
    let form = client
        .post(&url)
        .form(&[("client_name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::BAD_REQUEST);
    let refused: Value = form.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_request");
    let huge = client
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"client_name\":\"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let bad_path = client
        .get(format!("{base}/register/%FF"))
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    assert!(bad_path.status().is_client_error());
    let refused: Value = bad_path.json().await.unwrap();
    assert!(refused["error"].is_string());
}

#[tokio::test]
async fn open_registration_acts_for_users_only_unless_the_operator_vouches() {
    let (app, base) = serve_app(&[("OAUTH2_REGISTRATION", "open")]).await;
    let public = json!({
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
    });
    let (status, registered) = register(&base, None, &public).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert!(registered.get("client_secret").is_none());
    assert_eq!(registered["scope"], "openid profile email offline_access");

    let machine = json!({
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_post",
    });
    let (status, refused) = register(&base, None, &machine).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("initial access token"),
        "{refused}"
    );
    // With the operator's token, a machine client may register and use its grant.
    let (token, _) = initial_access_token(&app, 1).await;
    let (status, registered) = register(&base, Some(&token), &machine).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let (status, tokens) = post_client_form(
        &base,
        "/token",
        registered["client_id"].as_str().unwrap(),
        None,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_secret",
                registered["client_secret"].as_str().unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // A token that is sent is checked even where none is needed.
    let (status, _) = register(&base, Some("a-guess"), &public).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn registration_can_be_turned_off() {
    let (_app, base) = serve_app(&[("OAUTH2_REGISTRATION", "off")]).await;
    let (status, _) = register(&base, None, &web_metadata()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let discovery: Value = reqwest::get(format!("{base}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(discovery.get("registration_endpoint").is_none());
}

#[tokio::test]
async fn guessing_initial_access_tokens_locks_the_source() {
    let (app, base) = serve_app(&[]).await;
    let (token, _) = initial_access_token(&app, 1).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _) = register(&base, Some("a-guess"), &web_metadata()).await;
        statuses.push(status);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[11], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // Locked: even the right token waits, and is not spent.
    let (status, _) = register(&base, Some(&token), &web_metadata()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(app.state.store.list_clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn open_registration_gives_each_source_a_budget() {
    let (app, base) = serve_app(&[("OAUTH2_REGISTRATION", "open")]).await;
    for i in 0..20 {
        let (status, body) = register(&base, None, &web_metadata()).await;
        assert_eq!(status, StatusCode::CREATED, "registration {i}: {body}");
    }
    let (status, refused) = register(&base, None, &web_metadata()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(app.state.store.list_clients().await.unwrap().len(), 20);
    // The operator's token is another budget: it still registers.
    let (token, _) = initial_access_token(&app, 1).await;
    let (status, body) = register(&base, Some(&token), &web_metadata()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_wrong_registration_access_token_is_counted_and_audited() {
    let (app, base) = serve_app(&[("OAUTH2_REGISTRATION", "open")]).await;
    let (_, registered) = register(&base, None, &web_metadata()).await;
    let client_id = registered["client_id"].as_str().unwrap();
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let (status, _, _) = call(reqwest::Method::GET, uri, Some("wrong"), None).await;
        statuses.push(status);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    let failures = audit_events(&app, AuditEventType::ClientAuthenticationFailed).await;
    assert!(failures.len() >= 10, "{failures:?}");
    assert_eq!(failures[0].client_id.as_deref(), Some(client_id));
}
