//! The admin HTTP API: every operation with an admin token, refusals of tokens that are
//! missing, foreign or short of scope, JSON errors for bad input, the OpenAPI document, and
//! each call in the audit trail.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use ostiary_core::SystemClock;
use ostiary_core::audit::{AuditEventType, Outcome};
use ostiary_core::client::{Audience, ClientId, ClientRegistration, GrantType, Scope};
use ostiary_core::token::admin_audience;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{
    Backend, ISSUER, TestApp, audit_events, form_body, form_post, machine_client, send,
};

/// An app, its admin router, and tokens of clients with each kind of access.
struct Admin {
    app: TestApp,
    router: axum::Router,
    /// `ostiary:admin`, client `ops`.
    full: String,
    /// `ostiary:admin:read`, client `auditor`.
    read: String,
    /// The admin audience without an admin scope, client `half`.
    no_scope: String,
    /// A token for another API, client `svc`.
    foreign: String,
}

fn admin_client(id: &str, scope: &str) -> ClientRegistration {
    ClientRegistration {
        name: format!("{id} automation"),
        client_id: Some(ClientId::parse(id).unwrap()),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec![Scope::parse(scope).unwrap()],
        audiences: vec![Audience::parse(&admin_audience(ISSUER)).unwrap()],
        ..ClientRegistration::default()
    }
}

/// A `client_credentials` access token of `id`.
async fn token(app: &TestApp, id: &str, secret: &str) -> String {
    let body = form_body(&[("grant_type", "client_credentials")]);
    let (status, _, json) = send(app, form_post("/token", &body, Some((id, secret)))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json["access_token"].as_str().unwrap().to_owned()
}

impl Admin {
    async fn on(backend: Backend) -> Option<Self> {
        let app = TestApp::on(backend, &[], Arc::new(SystemClock)).await?;
        let mut tokens = Vec::new();
        for (id, scope) in [
            ("ops", "ostiary:admin"),
            ("auditor", "ostiary:admin:read"),
            ("half", "read"),
        ] {
            let secret = app.client(admin_client(id, scope)).await.unwrap();
            tokens.push(token(&app, id, &secret).await);
        }
        let secret = app.client(machine_client("svc")).await.unwrap();
        let foreign = token(&app, "svc", &secret).await;
        let router = ostiary_server::admin_api::router(app.state.clone()).unwrap();
        let [full, read, no_scope] = <[String; 3]>::try_from(tokens).unwrap();
        Some(Self {
            app,
            router,
            full,
            read,
            no_scope,
            foreign,
        })
    }

    /// One call: status, headers and the JSON body (`Null` when there is none).
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.raw(request).await
    }

    async fn raw(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A call with the full admin token that must answer `expected`.
    async fn ok(&self, method: &str, path: &str, body: Option<Value>, expected: u16) -> Value {
        let (status, _, json) = self.call(method, path, Some(&self.full), body).await;
        assert_eq!(status.as_u16(), expected, "{method} {path}: {json}");
        json
    }
}

crate::on_both_backends!(
    every_operation_works_for_an_admin_token_and_is_audited,
    calls_without_a_fitting_token_are_refused_and_audited,
);

async fn every_operation_works_for_an_admin_token_and_is_audited(backend: Backend) {
    let Some(admin) = Admin::on(backend).await else {
        return;
    };
    // Clients: create, list, show, update, rotate the secret, delete.
    let created = admin
        .ok(
            "POST",
            "/v1/clients",
            Some(json!({
                "name": "Batch",
                "client_id": "batch",
                "grant_types": ["client_credentials"],
                "scopes": ["reports:read"],
            })),
            201,
        )
        .await;
    assert_eq!(created["client_id"], "batch");
    let first_secret = created["client_secret"].as_str().unwrap().to_owned();
    let listed = admin.ok("GET", "/v1/clients", None, 200).await;
    let ids: Vec<&str> = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"batch") && ids.contains(&"ops"), "{ids:?}");
    let shown = admin.ok("GET", "/v1/clients/batch", None, 200).await;
    assert_eq!(shown["scopes"], json!(["reports:read"]));
    assert!(shown.get("client_secret").is_none(), "never a secret");
    let updated = admin
        .ok(
            "PATCH",
            "/v1/clients/batch",
            Some(json!({ "scopes": ["reports:read", "reports:write"], "access_token_lifetime": 600 })),
            200,
        )
        .await;
    assert_eq!(updated["scopes"], json!(["reports:read", "reports:write"]));
    assert_eq!(updated["access_token_lifetime"], 600);
    let reset = admin
        .ok(
            "PATCH",
            "/v1/clients/batch",
            Some(json!({ "access_token_lifetime": null })),
            200,
        )
        .await;
    assert!(reset.get("access_token_lifetime").is_none(), "{reset}");
    let rotated = admin
        .ok("POST", "/v1/clients/batch/secret", Some(json!({})), 200)
        .await;
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, first_secret);
    assert!(rotated["previous_secret_expires_at"].is_null());
    token(&admin.app, "batch", new_secret).await;
    let body = form_body(&[("grant_type", "client_credentials")]);
    let (status, _, _) = send(
        &admin.app,
        form_post("/token", &body, Some(("batch", &first_secret))),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old secret is gone");

    // Users: create, list, show, disable, enable, set the password, sessions, consents.
    let user = admin
        .ok(
            "POST",
            "/v1/users",
            Some(json!({ "username": "Bob", "email": "bob@example.com", "password": "a long passphrase" })),
            201,
        )
        .await;
    assert_eq!(user["username"], "bob");
    assert!(user.get("password_hash").is_none());
    let user_id = ostiary_core::user::UserId::parse(user["user_id"].as_str().unwrap()).unwrap();
    let users = admin.ok("GET", "/v1/users?limit=10", None, 200).await;
    assert_eq!(users["users"][0]["username"], "bob");
    assert!(users["next_after"].is_null(), "one page");
    admin.ok("GET", "/v1/users/BOB", None, 200).await;
    let disabled = admin.ok("POST", "/v1/users/bob/disable", None, 200).await;
    assert_eq!(disabled["disabled"], true);
    let enabled = admin.ok("POST", "/v1/users/bob/enable", None, 200).await;
    assert_eq!(enabled["disabled"], false);
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let session = ostiary_core::session::Session {
        id_hash: ostiary_core::secret::SecretHash::of("a session cookie"),
        sid: "sid-bob".into(),
        user_id,
        auth_time: now,
        mfa: false,
        last_seen: now,
        expires_at: now + time::Duration::hours(1),
    };
    admin
        .app
        .state
        .store
        .insert_session(&session)
        .await
        .unwrap();
    let sessions = admin.ok("GET", "/v1/users/bob/sessions", None, 200).await;
    assert_eq!(sessions["sessions"][0]["sid"], "sid-bob");
    admin
        .ok(
            "PUT",
            "/v1/users/bob/password",
            Some(json!({ "password": "another long passphrase" })),
            200,
        )
        .await;
    let sessions = admin.ok("GET", "/v1/users/bob/sessions", None, 200).await;
    assert_eq!(
        sessions["sessions"],
        json!([]),
        "a new password ends sessions"
    );
    let consent = ostiary_core::grant::Consent {
        user_id,
        client_id: ClientId::parse("batch").unwrap(),
        scopes: vec![Scope::parse("reports:read").unwrap()],
        granted_at: now,
    };
    admin.app.state.store.save_consent(&consent).await.unwrap();
    let consents = admin.ok("GET", "/v1/users/bob/consents", None, 200).await;
    assert_eq!(consents["consents"][0]["client_id"], "batch");
    admin
        .ok("DELETE", "/v1/users/bob/consents/batch", None, 204)
        .await;
    admin
        .ok("DELETE", "/v1/users/bob/consents/batch", None, 404)
        .await;

    // Second factors: none, an enrolled key shown once, enrolling twice refused, the reset.
    let none = admin.ok("GET", "/v1/users/bob/mfa", None, 200).await;
    assert_eq!(none["totp"], false, "{none}");
    let enrolled = admin.ok("POST", "/v1/users/bob/mfa/totp", None, 201).await;
    assert_eq!(enrolled["totp"], true, "{enrolled}");
    let key = enrolled["totp_secret"].as_str().unwrap();
    assert!(ostiary_core::mfa::TotpSecret::from_base32(key).is_some());
    assert!(enrolled["otpauth_uri"].as_str().unwrap().contains(key));
    let shown = admin.ok("GET", "/v1/users/bob/mfa", None, 200).await;
    assert_eq!(shown["totp"], true);
    assert!(shown.get("totp_secret").is_none(), "shown once: {shown}");
    admin.ok("POST", "/v1/users/bob/mfa/totp", None, 400).await;
    let reset = admin.ok("DELETE", "/v1/users/bob/mfa", None, 200).await;
    assert_eq!(reset["totp"], false, "{reset}");
    admin.ok("GET", "/v1/users/nobody/mfa", None, 404).await;

    // Keys: list, rotate (signing with the new key at once), revoke a retired one (not the
    // one that signed the admin token, which would end this walk early).
    let before = admin.ok("GET", "/v1/keys", None, 200).await;
    assert!(
        before["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["alg"] == "ES256")
    );
    let retired = admin
        .ok("POST", "/v1/keys", Some(json!({ "alg": "ES256" })), 201)
        .await;
    let key = admin
        .ok("POST", "/v1/keys", Some(json!({ "alg": "ES256" })), 201)
        .await;
    assert_eq!(key["state"], "active");
    let signing = admin.app.state.tokens.keys().current();
    assert_eq!(
        signing
            .signing_key(ostiary_jwt::Algorithm::Es256)
            .unwrap()
            .kid(),
        key["kid"].as_str().unwrap(),
        "this instance signs with the new key at once"
    );
    admin
        .ok(
            "DELETE",
            &format!("/v1/keys/{}", retired["kid"].as_str().unwrap()),
            None,
            204,
        )
        .await;
    admin.ok("DELETE", "/v1/keys/no-such-kid", None, 404).await;

    // The audit trail, filtered and paged.
    let page = admin
        .ok("GET", "/v1/audit?event=client.created&limit=1", None, 200)
        .await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"], "client:ops");
    assert_eq!(events[0]["event"], "client.created");
    assert!(events[0]["id"].is_i64());
    let older = admin
        .ok(
            "GET",
            &format!(
                "/v1/audit?event=client.created&limit=1&before={}",
                page["next_before"]
            ),
            None,
            200,
        )
        .await;
    assert_eq!(
        older["events"],
        json!([]),
        "the admin API created one client"
    );
    assert!(older["next_before"].is_null());

    // The caller cannot lock itself out.
    admin
        .ok(
            "PATCH",
            "/v1/clients/ops",
            Some(json!({ "scopes": ["read"] })),
            409,
        )
        .await;
    admin.ok("DELETE", "/v1/clients/ops", None, 409).await;

    // Deleting a client; incident response, after which the caller's own token is spent.
    admin.ok("DELETE", "/v1/clients/batch", None, 204).await;
    admin.ok("GET", "/v1/clients/batch", None, 404).await;
    let revoked = admin
        .ok("POST", "/v1/tokens/revoke-all", Some(json!({})), 200)
        .await;
    assert!(revoked["grants"].is_u64() && revoked.get("keys_created").is_none());
    let (status, _, _) = admin
        .call("GET", "/v1/clients", Some(&admin.full), None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "revoke-all ends admin tokens too"
    );

    // Each change recorded its own event with the client as actor...
    for event in [
        AuditEventType::ClientCreated,
        AuditEventType::ClientUpdated,
        AuditEventType::ClientSecretRotated,
        AuditEventType::ClientDeleted,
        AuditEventType::UserCreated,
        AuditEventType::UserDisabled,
        AuditEventType::UserEnabled,
        AuditEventType::UserPasswordSet,
        AuditEventType::ConsentRevoked,
        AuditEventType::MfaEnrolled,
        AuditEventType::MfaReset,
        AuditEventType::KeyRotated,
        AuditEventType::KeyRevoked,
        AuditEventType::RevokedAll,
    ] {
        let recorded = audit_events(&admin.app, event).await;
        assert!(
            recorded.iter().any(|e| e.actor == "client:ops"),
            "{event:?} by the admin client: {recorded:?}"
        );
    }
    // ...and every call is in the trail with its route and outcome.
    let calls = audit_events(&admin.app, AuditEventType::AdminRequest).await;
    assert_eq!(calls.len(), 36, "{calls:#?}");
    let subjects: Vec<&str> = calls.iter().filter_map(|e| e.subject.as_deref()).collect();
    for route in [
        "POST /v1/clients",
        "PATCH /v1/clients/{client_id}",
        "POST /v1/clients/{client_id}/secret",
        "PUT /v1/users/{username}/password",
        "GET /v1/users/{username}/sessions",
        "POST /v1/users/{username}/mfa/totp",
        "DELETE /v1/users/{username}/mfa",
        "DELETE /v1/users/{username}/consents/{client_id}",
        "DELETE /v1/keys/{kid}",
        "GET /v1/audit",
        "POST /v1/tokens/revoke-all",
    ] {
        assert!(subjects.contains(&route), "{route} in {subjects:?}");
    }
    let refused: Vec<_> = calls
        .iter()
        .filter(|e| e.outcome == Outcome::Failure)
        .map(|e| (e.reason.as_deref().unwrap(), e.actor.as_str()))
        .collect();
    assert_eq!(
        refused,
        [
            ("404", "client:ops"),
            ("400", "client:ops"),
            ("404", "client:ops"),
            ("404", "client:ops"),
            ("409", "client:ops"),
            ("409", "client:ops"),
            ("404", "client:ops"),
            ("401", "anonymous"),
        ]
    );
}

async fn calls_without_a_fitting_token_are_refused_and_audited(backend: Backend) {
    let Some(admin) = Admin::on(backend).await else {
        return;
    };
    let (status, headers, json) = admin.call("GET", "/v1/clients", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="ostiary""#);
    assert_eq!(json["error"], "invalid_token");
    for token in ["not-a-jwt", admin.foreign.as_str()] {
        let (status, headers, json) = admin.call("GET", "/v1/clients", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
        assert_eq!(
            headers["www-authenticate"],
            r#"Bearer realm="ostiary", error="invalid_token""#
        );
    }
    let (status, headers, json) = admin
        .call("GET", "/v1/clients", Some(&admin.no_scope), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    assert_eq!(json["error"], "insufficient_scope");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="insufficient_scope""#)
    );
    // Read access reads, and changes nothing.
    let (status, _, _) = admin
        .call("GET", "/v1/users", Some(&admin.read), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_client = json!({ "name": "Sneaky", "grant_types": ["client_credentials"] });
    let (status, _, json) = admin
        .call("POST", "/v1/clients", Some(&admin.read), Some(new_client))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json["error"], "insufficient_scope");
    let (status, _, _) = admin
        .call(
            "POST",
            "/v1/tokens/revoke-all",
            Some(&admin.read),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A client that loses its admin scope, or is deleted, loses the API with it, whatever
    // tokens it holds.
    admin
        .ok(
            "PATCH",
            "/v1/clients/auditor",
            Some(json!({ "scopes": ["read"] })),
            200,
        )
        .await;
    admin.ok("DELETE", "/v1/clients/half", None, 204).await;
    // The client cache: 1 s on SQLite; on PostgreSQL the change is announced.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _, _) = admin
        .call("GET", "/v1/users", Some(&admin.read), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = admin
        .call("GET", "/v1/users", Some(&admin.no_scope), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A token that also names another API is in that API's hands too: refused here.
    let mut both = admin_client("both", "ostiary:admin");
    both.audiences
        .push(Audience::parse("https://api.example.com").unwrap());
    let secret = admin.app.client(both).await.unwrap();
    let shared = token(&admin.app, "both", &secret).await;
    let (status, _, _) = admin.call("GET", "/v1/users", Some(&shared), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token for two audiences"
    );
    // Nothing is cached on the way: answers may carry secrets.
    let (status, headers, _) = admin
        .call("GET", "/v1/users", Some(&admin.full), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, json) = admin
        .call("PUT", "/v1/clients", Some(&admin.full), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json["error"], "invalid_request");

    let calls = audit_events(&admin.app, AuditEventType::AdminRequest).await;
    let outcomes: Vec<(&str, Option<&str>)> = calls
        .iter()
        .map(|e| (e.actor.as_str(), e.reason.as_deref()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("anonymous", Some("401")),
            ("anonymous", Some("401")),
            ("anonymous", Some("401")),
            ("client:half", Some("403")),
            ("client:auditor", None),
            ("client:auditor", Some("403")),
            ("client:auditor", Some("403")),
            ("client:ops", None),
            ("client:ops", None),
            ("client:auditor", Some("403")),
            ("anonymous", Some("401")),
            ("anonymous", Some("401")),
            ("client:ops", None),
            ("client:ops", Some("405")),
        ]
    );
    assert!(calls.iter().all(|e| e.subject.is_some()));
}

#[tokio::test]
async fn bad_input_gets_a_json_error_never_a_panic_or_text() {
    let admin = Admin::on(Backend::Sqlite).await.unwrap();
    let post = |content_type: &str, body: &str| {
        Request::post("/v1/clients")
            .header("authorization", format!("Bearer {}", admin.full))
            .header("content-type", content_type)
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let cases = [
        (post("text/plain", "{}"), 415),
        (post("application/json", "{not json"), 400),
        (post("application/json", r#"{"name": 5}"#), 400),
        (
            post("application/json", r#"{"name": "x", "surprise": true}"#),
            400,
        ),
        (
            post(
                "application/json",
                r#"{"name": "x", "redirect_uris": ["https://app.example.com/cb#frag"]}"#,
            ),
            400,
        ),
        (
            post(
                "application/json",
                r#"{"name": "x", "grant_types": ["password"]}"#,
            ),
            400,
        ),
        (
            post(
                "application/json",
                &format!(r#"{{"name": "{}"}}"#, "x".repeat(2 << 20)),
            ),
            413,
        ),
    ];
    for (request, expected) in cases {
        let (status, headers, json) = admin.raw(request).await;
        assert_eq!(status.as_u16(), expected, "{json}");
        assert_eq!(headers["content-type"], "application/json");
        assert!(json["error"].is_string() && json["error_description"].is_string());
    }
    for (method, path, expected) in [
        ("GET", "/v1/clients/no-such-client", 404),
        ("GET", "/v1/users/nobody", 404),
        ("GET", "/v1/users/not%20a%20name", 404),
        ("GET", "/v1/users?limit=0", 400),
        ("GET", "/v1/users?limit=many", 400),
        ("GET", "/v1/audit?event=token.minted", 400),
        ("GET", "/v1/audit?since=yesterday", 400),
        ("GET", "/v1/nothing-here", 404),
    ] {
        let (status, _, json) = admin.call(method, path, Some(&admin.full), None).await;
        assert_eq!(status.as_u16(), expected, "{method} {path}: {json}");
        assert!(json["error"].is_string(), "{method} {path}: {json}");
    }
    let (status, _, json) = admin
        .call(
            "POST",
            "/v1/clients",
            Some(&admin.full),
            Some(json!({ "name": "Twin", "client_id": "ops" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        json["error_description"]
            .as_str()
            .unwrap()
            .contains("already registered")
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_its_security() {
    let admin = Admin::on(Backend::Sqlite).await.unwrap();
    let (status, headers, doc) = admin.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/clients",
        "/v1/clients/{client_id}",
        "/v1/clients/{client_id}/secret",
        "/v1/users",
        "/v1/users/{username}",
        "/v1/users/{username}/disable",
        "/v1/users/{username}/enable",
        "/v1/users/{username}/password",
        "/v1/users/{username}/sessions",
        "/v1/users/{username}/consents",
        "/v1/users/{username}/consents/{client_id}",
        "/v1/users/{username}/mfa",
        "/v1/users/{username}/mfa/totp",
        "/v1/keys",
        "/v1/keys/{kid}",
        "/v1/audit",
        "/v1/tokens/revoke-all",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let scopes = &operation["security"][0]["bearer"];
            let expected = if method == "get" {
                json!(["ostiary:admin:read"])
            } else {
                json!(["ostiary:admin"])
            };
            assert_eq!(scopes, &expected, "{method} {path}");
        }
    }
    assert_eq!(operations, 23);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let written = ostiary_server::admin_api::openapi_json().unwrap();
    assert_eq!(serde_json::from_str::<Value>(&written).unwrap(), doc);
}
