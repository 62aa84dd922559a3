//! Codes and refresh tokens after the browser flow: single-use codes whose replay revokes
//! the grant, refresh token rotation, reuse detection, the grace period for concurrent
//! retries, and what disabling a user or `revoke_everything` ends.

use std::sync::Arc;

use crate::support::{
    Backend, Browser, TestApp, USER, USER_PASSWORD, add_user, code_request, introspect_as, pkce,
    post_client_form, redeem_code, serve_app_on, use_refresh_token, web_client,
};
use ostiary_core::SystemClock;
use ostiary_core::admin::disable_user;
use ostiary_core::clock::ManualClock;
use ostiary_core::user::Username;
use reqwest::StatusCode;
use serde_json::Value;

const CLIENT: &str = "webapp";
const OFFLINE: &str = "openid profile offline_access";

struct Flow {
    app: TestApp,
    base: String,
    secret: String,
    browser: Browser,
}

impl Flow {
    async fn start(vars: &[(&str, &str)]) -> Self {
        Self::with_clock(vars, Arc::new(SystemClock)).await
    }

    async fn with_clock(vars: &[(&str, &str)], clock: Arc<dyn ostiary_core::Clock>) -> Self {
        Self::on(Backend::Sqlite, vars, clock)
            .await
            .expect("SQLite is always there")
    }

    /// A flow on `backend`; `None` when PostgreSQL is not configured (the test skips).
    async fn on(
        backend: Backend,
        vars: &[(&str, &str)],
        clock: Arc<dyn ostiary_core::Clock>,
    ) -> Option<Self> {
        let (app, base) = serve_app_on(backend, vars, clock).await?;
        add_user(&app).await;
        let secret = app.client(web_client(CLIENT, false)).await.unwrap();
        let browser = Browser::new(&base);
        Some(Self {
            app,
            base,
            secret,
            browser,
        })
    }

    /// Signs in, approves `scope`, redeems the code: the token response.
    async fn tokens(&self, scope: &str) -> Value {
        let (code, verifier) = self.browser.obtain_code(CLIENT, scope).await;
        let (status, json) =
            redeem_code(&self.base, CLIENT, Some(&self.secret), &code, &verifier).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json
    }

    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        use_refresh_token(&self.base, CLIENT, Some(&self.secret), refresh_token).await
    }

    async fn active(&self, token: &str) -> bool {
        let json = introspect_as(&self.base, CLIENT, &self.secret, token).await;
        json["active"].as_bool().expect("active is a boolean")
    }

    /// Whether the browser's session still signs the user in: with consent given, a live
    /// session goes straight back to the client with a code; otherwise the login page.
    async fn session_alive(&self) -> bool {
        let (challenge, _) = pkce();
        let page = self
            .browser
            .authorize(&code_request(CLIENT, OFFLINE, "probe", &challenge))
            .await;
        if page.is_login_form() {
            return false;
        }
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert!(
            page.redirect_param("code").is_some(),
            "{:?}",
            page.location()
        );
        true
    }
}

fn refresh_token_of(json: &Value) -> String {
    json["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token in {json}"))
        .to_owned()
}

#[track_caller]
fn assert_invalid_grant(status: StatusCode, json: &Value) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"], "invalid_grant", "{json}");
}

#[tokio::test]
async fn a_reused_code_is_invalid_grant_and_revokes_what_it_issued() {
    let flow = Flow::start(&[]).await;
    let (code, verifier) = flow.browser.obtain_code(CLIENT, OFFLINE).await;
    let (status, first) =
        redeem_code(&flow.base, CLIENT, Some(&flow.secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let access_token = first["access_token"].as_str().unwrap();
    let refresh_token = refresh_token_of(&first);
    assert!(flow.active(access_token).await);

    let (status, second) =
        redeem_code(&flow.base, CLIENT, Some(&flow.secret), &code, &verifier).await;
    assert_invalid_grant(status, &second);

    assert!(
        !flow.active(access_token).await,
        "the access token of the first redemption is still active"
    );
    let (status, json) = flow.refresh(&refresh_token).await;
    assert_invalid_grant(status, &json);
}

#[tokio::test]
async fn a_code_is_bound_to_its_client() {
    let flow = Flow::start(&[]).await;
    let other_secret = flow.app.client(web_client("other", false)).await.unwrap();
    let (code, verifier) = flow.browser.obtain_code(CLIENT, "openid").await;
    let (status, json) =
        redeem_code(&flow.base, "other", Some(&other_secret), &code, &verifier).await;
    assert_invalid_grant(status, &json);
}

#[tokio::test]
async fn openid_without_offline_access_gets_no_refresh_token() {
    let flow = Flow::start(&[]).await;
    let json = flow.tokens("openid profile").await;
    assert!(json["id_token"].is_string(), "{json}");
    assert!(json.get("refresh_token").is_none(), "{json}");
    // A plain OAuth request (no openid) gets one: the client has the refresh_token grant.
    let json = flow.tokens("profile").await;
    assert!(json.get("id_token").is_none(), "{json}");
    assert!(json["refresh_token"].is_string(), "{json}");
}

/// Rotation, then the rotated token presented again once the grace period is over: the
/// whole family (the newest refresh token and its access token) is revoked.
async fn reuse_after_grace_revokes_the_family(flow: &Flow, let_grace_pass: impl FnOnce()) {
    let first = flow.tokens(OFFLINE).await;
    let rt1 = refresh_token_of(&first);

    let (status, second) = flow.refresh(&rt1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = refresh_token_of(&second);
    assert_ne!(rt1, rt2, "the refresh token did not rotate");
    let at2 = second["access_token"].as_str().unwrap().to_owned();
    assert!(flow.active(&at2).await);
    let_grace_pass();

    // The rotated token comes back: a replay.
    let (status, json) = flow.refresh(&rt1).await;
    assert_invalid_grant(status, &json);
    // The newest token of the family dies with it, and so does its access token.
    let (status, json) = flow.refresh(&rt2).await;
    assert_invalid_grant(status, &json);
    assert!(
        !flow.active(&at2).await,
        "the family's access token is still active"
    );
}

#[tokio::test]
async fn reuse_after_the_default_grace_period_revokes_the_family() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let flow = Flow::with_clock(&[], clock.clone()).await;
    reuse_after_grace_revokes_the_family(&flow, || clock.advance(time::Duration::seconds(11)))
        .await;
}

#[tokio::test]
async fn with_no_grace_period_an_immediate_reuse_revokes_the_family() {
    // A clock that stands still: the reuse comes within the same second as the rotation,
    // which a grace period of zero must not excuse.
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let flow = Flow::with_clock(&[("OAUTH2_REFRESH_GRACE_SECS", "0")], clock).await;
    reuse_after_grace_revokes_the_family(&flow, || {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_inside_the_grace_period_get_identical_answers() {
    let flow = Flow::start(&[]).await;
    let first = flow.tokens(OFFLINE).await;
    let rt1 = refresh_token_of(&first);

    let (a, b) = tokio::join!(flow.refresh(&rt1), flow.refresh(&rt1));
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    assert_eq!(b.0, StatusCode::OK, "{}", b.1);
    assert_eq!(a.1, b.1, "concurrent refreshes answered differently");
    let rt2 = refresh_token_of(&a.1);
    assert_ne!(rt1, rt2);

    // A later retry inside the grace period gets the same answer again.
    let (status, retry) = flow.refresh(&rt1).await;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(retry, a.1);

    // The family is still usable through its newest token.
    assert!(flow.active(a.1["access_token"].as_str().unwrap()).await);
    let (status, third) = flow.refresh(&rt2).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let rt3 = refresh_token_of(&third);
    let (status, fourth) = flow.refresh(&rt3).await;
    assert_eq!(status, StatusCode::OK, "{fourth}");
}

#[tokio::test]
async fn a_retry_by_another_client_inside_the_grace_period_is_refused() {
    let flow = Flow::start(&[]).await;
    let other_secret = flow.app.client(web_client("other", false)).await.unwrap();
    let first = flow.tokens(OFFLINE).await;
    let rt1 = refresh_token_of(&first);
    let (status, second) = flow.refresh(&rt1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (status, json) = use_refresh_token(&flow.base, "other", Some(&other_secret), &rt1).await;
    assert_invalid_grant(status, &json);
}

#[tokio::test]
async fn disabling_the_user_ends_refresh_tokens_and_sessions() {
    let flow = Flow::start(&[]).await;
    let tokens = flow.tokens(OFFLINE).await;
    let refresh_token = refresh_token_of(&tokens);
    let access_token = tokens["access_token"].as_str().unwrap();
    assert!(flow.session_alive().await, "control: the session works");

    disable_user(
        &*flow.app.state.store,
        &SystemClock,
        &Username::parse(USER).unwrap(),
    )
    .await
    .unwrap();

    let (status, json) = flow.refresh(&refresh_token).await;
    assert_invalid_grant(status, &json);
    assert!(!flow.active(access_token).await);
    assert!(
        !flow.session_alive().await,
        "the session survived disabling"
    );
    // Nor can the user sign in again.
    let (challenge, _) = pkce();
    let login = flow
        .browser
        .authorize(&code_request(CLIENT, OFFLINE, "s", &challenge))
        .await;
    let page = flow.browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
}

#[tokio::test]
async fn revoke_everything_ends_refresh_tokens_and_sessions() {
    let flow = Flow::start(&[]).await;
    let tokens = flow.tokens(OFFLINE).await;
    let refresh_token = refresh_token_of(&tokens);
    let access_token = tokens["access_token"].as_str().unwrap();
    // An unredeemed code dies too.
    let (code, verifier) = flow.browser.obtain_code(CLIENT, OFFLINE).await;
    assert!(flow.session_alive().await, "control: the session works");

    flow.app
        .state
        .store
        .revoke_everything(time::OffsetDateTime::now_utc())
        .await
        .unwrap();

    let (status, json) = flow.refresh(&refresh_token).await;
    assert_invalid_grant(status, &json);
    assert!(!flow.active(access_token).await);
    let (status, json) =
        redeem_code(&flow.base, CLIENT, Some(&flow.secret), &code, &verifier).await;
    assert_invalid_grant(status, &json);
    assert!(!flow.session_alive().await, "the session survived");
}

#[tokio::test]
async fn a_code_expires_after_60_seconds() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let flow = Flow::with_clock(&[], clock.clone()).await;
    let (code, verifier) = flow.browser.obtain_code(CLIENT, "openid").await;
    clock.advance(time::Duration::seconds(61));
    let (status, json) =
        redeem_code(&flow.base, CLIENT, Some(&flow.secret), &code, &verifier).await;
    assert_invalid_grant(status, &json);
}

#[tokio::test]
async fn a_code_is_bound_to_its_redirect_uri() {
    let flow = Flow::start(&[]).await;
    let (code, verifier) = flow.browser.obtain_code(CLIENT, "openid").await;
    for redirect_uri in [Some("https://app.example.com/other"), None] {
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        if let Some(uri) = redirect_uri {
            fields.push(("redirect_uri", uri));
        }
        let (status, json) = crate::support::post_client_form(
            &flow.base,
            "/token",
            CLIENT,
            Some(&flow.secret),
            &fields,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
        assert!(
            json["error"] == "invalid_grant" || json["error"] == "invalid_request",
            "{json}"
        );
    }
}

/// A security invariant (docs/architecture.md): refresh tokens, codes and session ids are
/// stored as SHA-256 hashes only.
#[tokio::test]
async fn codes_refresh_tokens_and_session_tokens_are_stored_only_as_hashes() {
    let (app, base) = crate::support::serve_app(&[]).await;
    let user = add_user(&app).await;
    let secret = app.client(web_client(CLIENT, false)).await.unwrap();
    let browser = Browser::new(&base);
    let (code, verifier) = browser.obtain_code(CLIENT, OFFLINE).await;
    let (status, tokens) = redeem_code(&base, CLIENT, Some(&secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (session_token, _) = app.state.sessions.start(&user, None, false).await.unwrap();

    let db = ostiary_store::sqlite_file(app.state.config.database_url()).unwrap();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.clone().into_os_string();
        path.push(suffix);
        bytes.extend(std::fs::read(path).unwrap_or_default());
    }
    assert!(
        crate::support::contains(&bytes, USER.as_bytes()),
        "control: the username is in the database files"
    );
    for (what, value) in [
        ("code", code.as_str()),
        ("refresh token", refresh_token.as_str()),
        ("session token", session_token.expose()),
    ] {
        assert!(
            !crate::support::contains(&bytes, value.as_bytes()),
            "the {what} is stored in the clear"
        );
    }
}

crate::on_both_backends!(
    a_used_successor_ends_the_grace_of_its_predecessor,
    refresh_tokens_introspect_for_their_owner_only,
    revoke_all_ends_every_access_token_issued_before_it,
);

/// RFC 9700 4.14.2: R1 rotated to R2, R2 used (to R3), then R1 again inside the grace
/// period: the client evidently received R2, so R1 is a replay and the family goes.
async fn a_used_successor_ends_the_grace_of_its_predecessor(backend: Backend) {
    let Some(flow) = Flow::on(backend, &[], Arc::new(SystemClock)).await else {
        return;
    };
    let first = flow.tokens(OFFLINE).await;
    let rt1 = refresh_token_of(&first);
    let (status, second) = flow.refresh(&rt1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = refresh_token_of(&second);
    // Control: inside the grace period, R1 still gets R2's answer while R2 is unused.
    let (status, retry) = flow.refresh(&rt1).await;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(retry, second);

    let (status, third) = flow.refresh(&rt2).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let rt3 = refresh_token_of(&third);
    let at3 = third["access_token"].as_str().unwrap().to_owned();
    assert!(flow.active(&at3).await);

    let (status, json) = flow.refresh(&rt1).await;
    assert_invalid_grant(status, &json);
    let (status, json) = flow.refresh(&rt3).await;
    assert_invalid_grant(status, &json);
    assert!(
        !flow.active(&at3).await,
        "R3's access token survived the replay"
    );
    let events = crate::support::audit_events(
        &flow.app,
        ostiary_core::audit::AuditEventType::ReuseDetected,
    )
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
}

/// RFC 7662 2.2: the owning client sees its live refresh token, with or without the hint;
/// anyone else, and the owner once it is rotated, sees an inactive token.
async fn refresh_tokens_introspect_for_their_owner_only(backend: Backend) {
    let Some(flow) = Flow::on(backend, &[], Arc::new(SystemClock)).await else {
        return;
    };
    let other_secret = flow.app.client(web_client("other", false)).await.unwrap();
    let tokens = flow.tokens(OFFLINE).await;
    let rt = refresh_token_of(&tokens);
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    for hint in [None, Some("refresh_token"), Some("access_token")] {
        let mut fields = vec![("token", rt.as_str())];
        if let Some(hint) = hint {
            fields.push(("token_type_hint", hint));
        }
        let (status, json) = post_client_form(
            &flow.base,
            "/introspect",
            CLIENT,
            Some(&flow.secret),
            &fields,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["active"], true, "hint {hint:?}: {json}");
        assert_eq!(json["client_id"], CLIENT, "{json}");
        assert_eq!(json["scope"], OFFLINE, "{json}");
        assert_eq!(json["token_type"], "refresh_token", "{json}");
        assert_eq!(json["iss"], flow.base.as_str(), "{json}");
        let sub = json["sub"].as_str().expect("sub");
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(sub, crate::support::jwt_claims(access)["sub"]);
        let iat = json["iat"].as_i64().expect("iat");
        let exp = json["exp"].as_i64().expect("exp");
        assert!(iat <= before + 1 && exp > before, "{json}");
    }
    let json = introspect_as(&flow.base, "other", &other_secret, &rt).await;
    assert_eq!(json, serde_json::json!({ "active": false }));

    // The token endpoint accepts it; once rotated it is inactive, its successor active.
    let (status, next) = flow.refresh(&rt).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    assert!(!flow.active(&rt).await, "a rotated refresh token is active");
    assert!(flow.active(&refresh_token_of(&next)).await);
}

/// Incident response: every access token issued before revoke-all is inactive at
/// introspection and userinfo, client_credentials tokens included (which no row names), while
/// tokens issued afterwards work.
async fn revoke_all_ends_every_access_token_issued_before_it(backend: Backend) {
    let Some(flow) = Flow::on(backend, &[], Arc::new(SystemClock)).await else {
        return;
    };
    let machine_secret = flow
        .app
        .client(crate::support::machine_client("billing"))
        .await
        .unwrap();
    let machine_token = || async {
        let (status, json) = post_client_form(
            &flow.base,
            "/token",
            "billing",
            Some(&machine_secret),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json["access_token"].as_str().unwrap().to_owned()
    };
    let machine = machine_token().await;
    let user_tokens = flow.tokens("openid profile").await;
    let user_access = user_tokens["access_token"].as_str().unwrap().to_owned();
    let machine_active = |token: String| {
        let secret = machine_secret.clone();
        let base = flow.base.clone();
        async move {
            introspect_as(&base, "billing", &secret, &token).await["active"]
                .as_bool()
                .unwrap()
        }
    };
    assert!(machine_active(machine.clone()).await, "control");
    assert_eq!(userinfo_status(&flow, &user_access).await, StatusCode::OK);

    let revoked = flow
        .app
        .state
        .store
        .revoke_everything(time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(revoked.grants, 1, "the user's grant: {revoked:?}");

    assert!(
        !machine_active(machine).await,
        "a client_credentials token survived"
    );
    assert!(!flow.active(&user_access).await);
    assert_eq!(
        userinfo_status(&flow, &user_access).await,
        StatusCode::UNAUTHORIZED
    );
    // Tokens issued after the cut-off (whole seconds: the next one) work.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let fresh = machine_token().await;
    assert!(
        machine_active(fresh).await,
        "a token issued afterwards is inactive"
    );
    // Every revocation is counted by reason, in the database every instance reads.
    let counts = flow.app.state.store.revocation_counts().await.unwrap();
    assert!(
        counts.iter().any(|(reason, n)| *reason
            == ostiary_core::grant::RevocationReason::RevokeAll
            && *n >= 1),
        "{counts:?}"
    );
}

async fn userinfo_status(flow: &Flow, access_token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/userinfo", flow.base))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}
