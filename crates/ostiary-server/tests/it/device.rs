//! The device authorization grant (RFC 8628) end to end: the `openidconnect` crate as the
//! device, the real verification, login and consent pages as the user's phone, on both
//! backends; and the refusals: wrong client, polling too fast, denied, expired, spent, guessed
//! user codes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreDeviceAuthorizationResponse, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthType, ClientId, DeviceAuthorizationUrl, IssuerUrl, Nonce,
    OAuth2TokenResponse, ProviderMetadata, Scope, TokenResponse,
};
use ostiary_core::audit::AuditEventType;
use ostiary_core::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::on_both_backends;
use crate::support::{
    Backend, Browser, ClientKey, TestApp, USER, USER_PASSWORD, add_user, audit_events, contains,
    device_client, jwt_claims, post_client_form, serve_app_on, serve_app_with_clock, web_client,
};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

on_both_backends!(openidconnect_crate_logs_a_device_in_through_the_pages);

/// Discovery's `device_authorization_endpoint`, which `CoreProviderMetadata` does not read.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct DeviceEndpoint {
    device_authorization_endpoint: DeviceAuthorizationUrl,
}
impl AdditionalProviderMetadata for DeviceEndpoint {}
type DeviceProviderMetadata = ProviderMetadata<
    DeviceEndpoint,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The device's first poll finds the request pending; while it waits its interval (the
/// crate's sleep, here moving the server's clock), the user enters the code on a phone,
/// signs in and approves; the next poll gets the tokens, which refresh.
async fn openidconnect_crate_logs_a_device_in_through_the_pages(backend: Backend) {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let Some((app, base)) = serve_app_on(backend, &[], clock.clone()).await else {
        return;
    };
    let user = add_user(&app).await;
    app.client(device_client("tv", true)).await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        DeviceProviderMetadata::discover_async(IssuerUrl::new(base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let endpoint = metadata
        .additional_metadata()
        .device_authorization_endpoint
        .clone();
    assert_eq!(endpoint.as_str(), format!("{base}/device_authorization"));
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new("tv".into()), None)
        .set_device_authorization_url(endpoint)
        .set_auth_type(AuthType::RequestBody);

    let details: CoreDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("offline_access".into()))
        .request_async(&http)
        .await
        .expect("device authorization through openidconnect");
    let user_code = details.user_code().secret().clone();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(
        details.verification_uri().as_str(),
        format!("{base}/device")
    );
    let complete = details
        .verification_uri_complete()
        .expect("verification_uri_complete")
        .secret()
        .clone();
    assert_eq!(complete, format!("{base}/device?user_code={user_code}"));
    assert_eq!(details.expires_in().as_secs(), 600);
    assert_eq!(details.interval().as_secs(), 5);

    let browser = Arc::new(Browser::new(&base));
    let approved = Arc::new(AtomicBool::new(false));
    let sleep = {
        let (clock, browser, approved) = (clock.clone(), browser.clone(), approved.clone());
        move |interval: std::time::Duration| {
            let (clock, browser, approved) = (clock.clone(), browser.clone(), approved.clone());
            let complete = complete.clone();
            async move {
                clock.advance(Duration::try_from(interval).unwrap());
                if approved.swap(true, Ordering::SeqCst) {
                    return;
                }
                // The phone: the QR code's URL pre-fills the form, which the user confirms.
                let login = browser.enter_user_code(&complete, "").await;
                assert_eq!(
                    login.status,
                    StatusCode::BAD_REQUEST,
                    "an empty code is refused"
                );
                let form = browser.get(&complete).await;
                assert_eq!(
                    form.input("user_code").as_deref(),
                    Some(&*user_code_of(&complete))
                );
                let login = browser
                    .enter_user_code(&complete, &user_code_of(&complete))
                    .await;
                assert!(login.is_login_form(), "{}", login.body);
                assert!(login.body.contains("tv device"), "the client is named");
                let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
                assert!(consent.is_consent_form(), "{}", consent.body);
                assert!(
                    consent.body.contains("started this on your own device"),
                    "the phishing warning is shown"
                );
                assert!(
                    consent.body.contains(&user_code_of(&complete)),
                    "with the code to compare"
                );
                let done = browser.submit_consent(&consent, "approve").await;
                assert_eq!(done.status, StatusCode::OK, "{}", done.body);
                assert!(done.body.contains("Device connected"), "{}", done.body);
            }
        }
    };
    let tokens = client
        .exchange_device_access_token(&details)
        .expect("a device token request")
        .request_async(&http, sleep, None)
        .await
        .expect("tokens through openidconnect's polling");
    assert!(
        approved.load(Ordering::SeqCst),
        "the first poll was pending"
    );

    let id_token = tokens.id_token().expect("an ID token for openid");
    let claims = id_token
        .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
        .expect("ID token valid per openidconnect");
    assert_eq!(claims.subject().as_str(), user.id.to_string());
    let access = jwt_claims(tokens.access_token().secret());
    assert_eq!(access["client_id"], "tv");
    assert_eq!(access["sub"], user.id.to_string());
    assert_eq!(access["scope"], "openid offline_access");
    let refresh_token = tokens
        .refresh_token()
        .expect("offline_access: a refresh token");
    let refreshed = client
        .exchange_refresh_token(refresh_token)
        .unwrap()
        .request_async(&http)
        .await
        .expect("the device's refresh token works");
    assert!(refreshed.refresh_token().is_some());

    let approvals = audit_events(&app, AuditEventType::DeviceApproved).await;
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].client_id.as_deref(), Some("tv"));
    assert_eq!(approvals[0].subject, Some(user.id.to_string()));
}

fn user_code_of(complete: &str) -> String {
    complete.rsplit('=').next().unwrap().to_owned()
}

/// A device flow over a served app with a manual clock.
struct Device {
    app: TestApp,
    base: String,
    clock: Arc<ManualClock>,
}

impl Device {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
        let (app, base) = serve_app_with_clock(&[], clock.clone()).await;
        add_user(&app).await;
        app.client(device_client("tv", true)).await;
        Self { app, base, clock }
    }

    /// `POST /device_authorization` for the public client `client_id`.
    async fn start(&self, client_id: &str, scope: &str) -> (StatusCode, Value) {
        post_client_form(
            &self.base,
            "/device_authorization",
            client_id,
            None,
            &[("scope", scope)],
        )
        .await
    }

    async fn started(&self) -> (String, String) {
        let (status, json) = self.start("tv", "openid").await;
        assert_eq!(status, StatusCode::OK, "{json}");
        (
            json["device_code"].as_str().unwrap().to_owned(),
            json["user_code"].as_str().unwrap().to_owned(),
        )
    }

    /// One poll of the public client `client_id`.
    async fn poll(&self, client_id: &str, device_code: &str) -> (StatusCode, Value) {
        post_client_form(
            &self.base,
            "/token",
            client_id,
            None,
            &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
        )
        .await
    }

    /// The user enters `user_code` in a new browser, signs in and answers `decision`; the
    /// final page.
    async fn answer(&self, user_code: &str, decision: &str) -> crate::support::Page {
        answer_in(&Browser::new(&self.base), user_code, decision).await
    }
}

/// The user enters `user_code` in `browser`, signs in and answers `decision`.
async fn answer_in(browser: &Browser, user_code: &str, decision: &str) -> crate::support::Page {
    let login = browser.enter_user_code("/device", user_code).await;
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    browser.submit_consent(&consent, decision).await
}

fn error(json: &Value) -> &str {
    json["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn only_clients_registered_for_the_grant_may_start_or_poll() {
    let device = Device::new().await;
    device.app.client(web_client("web", true)).await;
    let (status, json) = device.start("web", "openid").await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
    let (status, json) = device.poll("web", "anything").await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
    // A confidential client must authenticate; an unknown one is invalid_client.
    let secret = device
        .app
        .client(device_client("box", false))
        .await
        .unwrap();
    let (status, json) = device.start("box", "openid").await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let (status, json) = device.start("nobody", "openid").await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let (status, json) = post_client_form(
        &device.base,
        "/device_authorization",
        "box",
        Some(&secret),
        &[
            ("scope", "openid"),
            ("resource", "https://elsewhere.example.com"),
        ],
    )
    .await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::BAD_REQUEST, "invalid_target")
    );
    let (status, json) = device.start("tv", "admin").await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
}

#[tokio::test]
async fn a_device_code_is_polled_only_by_its_client_and_redeemed_once() {
    let device = Device::new().await;
    device.app.client(device_client("other-tv", true)).await;
    let (device_code, user_code) = device.started().await;
    let (status, json) = device.poll("tv", &device_code).await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::BAD_REQUEST, "authorization_pending")
    );
    let (_, json) = device.poll("other-tv", &device_code).await;
    assert_eq!(error(&json), "invalid_grant", "another client's code");
    let (_, json) = device.poll("tv", "not-a-device-code").await;
    assert_eq!(error(&json), "invalid_grant");

    let done = device
        .answer(&user_code.to_lowercase().replace('-', ""), "approve")
        .await;
    assert!(done.body.contains("Device connected"), "{}", done.body);
    device.clock.advance(Duration::seconds(5));
    let (status, json) = device.poll("tv", &device_code).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["token_type"], "Bearer");
    assert!(json["id_token"].is_string());
    device.clock.advance(Duration::seconds(5));
    let (_, json) = device.poll("tv", &device_code).await;
    assert_eq!(error(&json), "invalid_grant", "spent");
    // The user code is spent too: the page no longer knows it.
    let page = Browser::new(&device.base)
        .enter_user_code("/device", &user_code)
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("not valid"), "{}", page.body);
}

#[tokio::test]
async fn polling_faster_than_the_interval_slows_the_device_down() {
    let device = Device::new().await;
    let (device_code, _) = device.started().await;
    let pending = |json: &Value| error(json) == "authorization_pending";
    let slow_down = |json: &Value| error(json) == "slow_down";
    assert!(pending(&device.poll("tv", &device_code).await.1));
    // At once: slow_down, and the interval becomes 10 seconds.
    let (status, json) = device.poll("tv", &device_code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(slow_down(&json), "{json}");
    // 5 seconds later is too early now: 15 seconds.
    device.clock.advance(Duration::seconds(5));
    assert!(slow_down(&device.poll("tv", &device_code).await.1));
    device.clock.advance(Duration::seconds(10));
    assert!(
        slow_down(&device.poll("tv", &device_code).await.1),
        "15 s, not 10"
    );
    device.clock.advance(Duration::seconds(20));
    assert!(pending(&device.poll("tv", &device_code).await.1));
}

#[tokio::test]
async fn a_denied_request_is_access_denied_and_audited() {
    let device = Device::new().await;
    let (device_code, user_code) = device.started().await;
    let done = device.answer(&user_code, "deny").await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body.contains("Request denied"), "{}", done.body);
    let (status, json) = device.poll("tv", &device_code).await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::BAD_REQUEST, "access_denied")
    );
    let denials = audit_events(&device.app, AuditEventType::DeviceDenied).await;
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0].client_id.as_deref(), Some("tv"));
}

#[tokio::test]
async fn an_expired_device_code_is_expired_token_and_its_user_code_unknown() {
    let device = Device::new().await;
    let (device_code, user_code) = device.started().await;
    let browser = Browser::new(&device.base);
    let login = browser.enter_user_code("/device", &user_code).await;
    assert!(login.is_login_form());
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    device.clock.advance(Duration::minutes(10));
    let (status, json) = device.poll("tv", &device_code).await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::BAD_REQUEST, "expired_token")
    );
    // A consent page opened before expiry cannot approve after it.
    let late = browser.submit_consent(&consent, "approve").await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.body);
    assert!(late.body.contains("expired"), "{}", late.body);
    let (_, json) = device.poll("tv", &device_code).await;
    assert_eq!(error(&json), "expired_token");
    let page = browser.enter_user_code("/device", &user_code).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn resource_at_the_poll_narrows_the_access_token_within_what_was_authorized() {
    let device = Device::new().await;
    let (device_code, user_code) = device.started().await;
    device.answer(&user_code, "approve").await;
    let poll = async |resource: &str| {
        let fields = [
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code.as_str()),
            ("resource", resource),
        ];
        post_client_form(&device.base, "/token", "tv", None, &fields).await
    };
    let (status, json) = poll("https://elsewhere.example.com").await;
    assert_eq!(
        (status, error(&json)),
        (StatusCode::BAD_REQUEST, "invalid_target")
    );
    let (status, json) = poll("https://api.example.com").await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let access = jwt_claims(json["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], "https://api.example.com", "{access}");
}

#[tokio::test]
async fn an_answered_request_gets_its_answer_however_early_the_poll() {
    let device = Device::new().await;
    let (device_code, user_code) = device.started().await;
    assert_eq!(
        error(&device.poll("tv", &device_code).await.1),
        "authorization_pending"
    );
    device.answer(&user_code, "deny").await;
    for _ in 0..2 {
        let (_, json) = device.poll("tv", &device_code).await;
        assert_eq!(error(&json), "access_denied", "not slow_down: {json}");
    }
}

#[tokio::test]
async fn the_consent_page_is_always_shown_to_a_signed_in_user() {
    let device = Device::new().await;
    let (device_code, user_code) = device.started().await;
    let browser = Browser::new(&device.base);
    answer_in(&browser, &user_code, "approve").await;
    // A second device for the same user and client: signed in, yet asked again.
    let (_, second_user_code) = device.started().await;
    let consent = browser.enter_user_code("/device", &second_user_code).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    assert!(consent.body.contains("own device"));
    assert_eq!(device.poll("tv", &device_code).await.0, StatusCode::OK);
}

#[tokio::test]
async fn logging_out_before_the_device_polls_voids_the_approval() {
    let device = Device::new().await;
    let (device_code, user_code) = device.started().await;
    let browser = Browser::new(&device.base);
    answer_in(&browser, &user_code, "approve").await;
    let confirm = browser.get("/logout").await;
    let fields = vec![
        ("csrf".to_owned(), confirm.input("csrf").unwrap()),
        ("confirm".to_owned(), "yes".to_owned()),
    ];
    let out = browser.post("/logout", &fields).await;
    assert!(
        out.status.is_success() || out.status.is_redirection(),
        "{}",
        out.body
    );
    let (_, json) = device.poll("tv", &device_code).await;
    assert_eq!(error(&json), "invalid_grant", "{json}");
}

#[tokio::test]
async fn guessed_user_codes_are_locked_out_per_source() {
    let device = Device::new().await;
    let (_, user_code) = device.started().await;
    let browser = Browser::new(&device.base);
    // Well-formed codes, so each one is looked up and missed.
    for guess in "BCDFGHJKLM".chars() {
        let page = browser
            .enter_user_code("/device", &format!("ZZZZ-ZZZ{guess}"))
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "guess {guess}");
        assert!(page.body.contains("not valid"));
    }
    // Locked: even the right code waits, with Retry-After.
    let page = browser.enter_user_code("/device", &user_code).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn the_verification_page_prefills_only_what_looks_like_a_code_and_needs_its_csrf() {
    let device = Device::new().await;
    let browser = Browser::new(&device.base);
    let page = browser.get("/device?user_code=bcdfghjk").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.input("user_code").as_deref(), Some("BCDF-GHJK"));
    assert!(page.headers.contains_key("content-security-policy"));
    let page = browser.get("/device?user_code=%22%3E%3Cscript%3E").await;
    assert_eq!(page.input("user_code").as_deref(), Some(""));
    assert!(!page.body.contains("<script>"));
    let forged = browser
        .post(
            "/device",
            &[
                ("csrf".to_owned(), "forged".to_owned()),
                ("user_code".to_owned(), "BCDF-GHJK".to_owned()),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_dpop_proof_binds_the_device_tokens() {
    let device = Device::new().await;
    let (device_code, user_code) = device.started().await;
    device.answer(&user_code, "approve").await;
    let key = ClientKey::generate();
    let proof = key.proof("POST", &format!("{}/token", device.base), None, None);
    let response = reqwest::Client::new()
        .post(format!("{}/token", device.base))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code.as_str()),
            ("client_id", "tv"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["token_type"], "DPoP");
    let access = jwt_claims(json["access_token"].as_str().unwrap());
    assert!(access["cnf"]["jkt"].is_string(), "{access}");
}

/// Both codes are stored as SHA-256 hashes only: neither appears in the database files, in
/// any spelling, while the request is pending or after it was redeemed.
#[tokio::test]
async fn neither_code_is_stored_in_plain_text() {
    let device = Device::new().await;
    let (device_code, user_code) = device.started().await;
    let normal = user_code.replace('-', "");
    let plain = |app: &TestApp| {
        let db = app.database_bytes();
        [device_code.as_str(), user_code.as_str(), normal.as_str()]
            .into_iter()
            .any(|code| contains(&db, code.as_bytes()))
    };
    assert!(!plain(&device.app), "pending");
    device.answer(&user_code, "approve").await;
    device.clock.advance(Duration::seconds(5));
    assert_eq!(device.poll("tv", &device_code).await.0, StatusCode::OK);
    assert!(!plain(&device.app), "redeemed");
}
