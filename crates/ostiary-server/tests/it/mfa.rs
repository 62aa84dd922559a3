//! Second factors as users and operators meet them: the TOTP page (input `otp`) after the
//! password, enrolment when a client (`--require-mfa`) or the server (`OAUTH2_REQUIRE_MFA`)
//! requires it, and `user mfa` / `user mfa-reset` at the command line.

use ostiary_core::mfa::TotpSecret;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    Browser, Page, Scratch, TestApp, USER, USER_PASSWORD, add_user, assert_success, code_request,
    jwt_claims, pkce, redeem_code, serve_app, stderr, use_refresh_token, web_client,
};

const CLIENT: &str = "webapp";

fn is_code_form(page: &Page) -> bool {
    page.body.contains(r#"action="/login/otp""#) && page.body.contains(r#"name="otp""#)
}

fn now_code(secret: &TotpSecret) -> String {
    secret.code_at_time(time::OffsetDateTime::now_utc().unix_timestamp())
}

async fn submit_code(browser: &Browser, page: &Page, otp: &str) -> Page {
    assert!(
        is_code_form(page),
        "not the code page: {} {}",
        page.status,
        page.body
    );
    let fields = vec![
        ("csrf".to_owned(), page.input("csrf").expect("csrf field")),
        (
            "interaction".to_owned(),
            page.input("interaction").expect("interaction field"),
        ),
        ("otp".to_owned(), otp.to_owned()),
    ];
    browser.post("/login/otp", &fields).await
}

/// The key an enrolment page shows.
fn shown_key(page: &Page) -> TotpSecret {
    let start = page
        .body
        .find(r#"id="totp-secret">"#)
        .expect("the key is shown")
        + 17;
    let end = start + page.body[start..].find('<').unwrap();
    TotpSecret::from_base32(&page.body[start..end]).expect("a base32 key")
}

async fn enrol(app: &TestApp) -> TotpSecret {
    let user = app
        .state
        .store
        .find_user_by_username(&ostiary_core::user::Username::parse(USER).unwrap())
        .await
        .unwrap()
        .unwrap();
    let secret = TotpSecret::generate();
    assert!(
        app.state
            .factors
            .enroll(&user.id, &secret, None)
            .await
            .unwrap()
    );
    secret
}

#[tokio::test]
async fn an_enrolled_user_gives_a_code_after_the_password() {
    let (app, base) = serve_app(&[]).await;
    add_user(&app).await;
    let client_secret = app.client(web_client(CLIENT, false)).await.unwrap();
    let secret = enrol(&app).await;
    let browser = Browser::new(&base);
    let (challenge, verifier) = pkce();
    let login = browser
        .authorize(&code_request(
            CLIENT,
            "openid offline_access",
            "st",
            &challenge,
        ))
        .await;
    let asked = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert!(is_code_form(&asked), "{}", asked.body);
    assert!(
        !asked.body.contains("totp-secret"),
        "no key shown to an enrolled user"
    );
    assert!(
        !browser.has_session_cookie(),
        "the password alone starts no session"
    );

    let wrong = submit_code(&browser, &asked, "000000").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(wrong.body.contains("not right"), "{}", wrong.body);
    assert!(!browser.has_session_cookie());
    let garbage = submit_code(&browser, &wrong, "12ab<script>").await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED, "{}", garbage.body);

    let consent = submit_code(&browser, &garbage, &now_code(&secret)).await;
    assert!(
        consent.is_consent_form(),
        "{} {}",
        consent.status,
        consent.body
    );
    assert!(browser.has_session_cookie());
    assert!(!garbage.sets_cookie("ostiary_known"));
    assert!(
        consent.sets_cookie("ostiary_known"),
        "the browser is known to the account now: a lock set elsewhere spares it"
    );
    let redirect = browser.submit_consent(&consent, "approve").await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER, "{}", redirect.body);
    let code = redirect.redirect_param("code").unwrap();
    // The ID tokens say how the user signed in (RFC 8176), after the refresh too.
    let (status, tokens) = redeem_code(&base, CLIENT, Some(&client_secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let amr = json!(["pwd", "otp", "mfa"]);
    assert_eq!(jwt_claims(tokens["id_token"].as_str().unwrap())["amr"], amr);
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (status, refreshed) =
        use_refresh_token(&base, CLIENT, Some(&client_secret), refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(
        jwt_claims(refreshed["id_token"].as_str().unwrap())["amr"],
        amr
    );
}

#[tokio::test]
async fn a_password_only_login_says_so_in_amr() {
    let (app, base) = serve_app(&[]).await;
    add_user(&app).await;
    let client_secret = app.client(web_client(CLIENT, false)).await.unwrap();
    let browser = Browser::new(&base);
    let (code, verifier) = browser.obtain_code(CLIENT, "openid").await;
    let (status, tokens) = redeem_code(&base, CLIENT, Some(&client_secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["amr"],
        json!(["pwd"])
    );
}

#[tokio::test]
async fn a_client_requiring_mfa_has_its_user_enrol_on_the_page() {
    let (app, base) = serve_app(&[]).await;
    add_user(&app).await;
    let mut strict = web_client(CLIENT, false);
    strict.require_mfa = true;
    app.client(strict).await.unwrap();
    app.client(web_client("relaxed", false)).await.unwrap();
    let browser = Browser::new(&base);
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "st", &challenge))
        .await;
    let enrol_page = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert!(is_code_form(&enrol_page), "{}", enrol_page.body);
    assert!(
        enrol_page
            .body
            .contains("otpauth://totp/127.0.0.1:alice?secret="),
        "{}",
        enrol_page.body
    );
    let secret = shown_key(&enrol_page);
    // Signed in with the password only: enough for a client that does not require more,
    // silently; not for this one.
    let (challenge, _) = pkce();
    let mut silent = code_request(CLIENT, "openid", "st", &challenge);
    silent.push(("prompt".into(), "none".into()));
    let refused = browser.authorize(&silent).await;
    assert_eq!(
        refused.redirect_param("error").as_deref(),
        Some("interaction_required"),
        "{:?}",
        refused.location()
    );

    let consent = submit_code(&browser, &enrol_page, &now_code(&secret)).await;
    assert!(
        consent.is_consent_form(),
        "{} {}",
        consent.status,
        consent.body
    );
    let redirect = browser.submit_consent(&consent, "approve").await;
    assert!(
        redirect.redirect_param("code").is_some(),
        "{:?}",
        redirect.location()
    );
    // From now on the same browser's session carries the factor: no page, a code at once.
    let again = browser.authorize(&silent).await;
    assert!(
        again.redirect_param("code").is_some(),
        "{:?}",
        again.location()
    );
}

#[tokio::test]
async fn oauth2_require_mfa_holds_for_every_client_and_the_sign_in_page() {
    let (app, base) = serve_app(&[("OAUTH2_REQUIRE_MFA", "on")]).await;
    add_user(&app).await;
    app.client(web_client(CLIENT, false)).await.unwrap();
    let browser = Browser::new(&base);
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "st", &challenge))
        .await;
    let enrol_page = browser.submit_login(&login, USER, USER_PASSWORD).await;
    let secret = shown_key(&enrol_page);
    let consent = submit_code(&browser, &enrol_page, &now_code(&secret)).await;
    assert!(consent.is_consent_form(), "{}", consent.body);

    // Signing in with no application waiting asks the enrolled user for a code too.
    let other = Browser::new(&base);
    let form = other.get("/login").await;
    let asked = other.submit_login(&form, USER, USER_PASSWORD).await;
    assert!(is_code_form(&asked), "{}", asked.body);
    assert!(!other.has_session_cookie());
    // The code just used does not count twice: the next one does.
    let reused = submit_code(&other, &asked, &now_code(&secret)).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "{}", reused.body);
    let next = secret.code_at_time(time::OffsetDateTime::now_utc().unix_timestamp() + 30);
    let signed_in = submit_code(&other, &reused, &next).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert!(signed_in.body.contains("signed in"), "{}", signed_in.body);
    assert!(other.has_session_cookie());
}

#[tokio::test]
async fn a_code_post_without_a_live_page_is_refused_as_a_page() {
    let (_app, base) = serve_app(&[]).await;
    let browser = Browser::new(&base);
    let form = browser.get("/login").await;
    let csrf = form.input("csrf").unwrap();
    for fields in [
        vec![("csrf", csrf.as_str()), ("otp", "123456")],
        vec![
            ("csrf", csrf.as_str()),
            ("interaction", "nope"),
            ("otp", "123456"),
        ],
    ] {
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let page = browser.post("/login/otp", &fields).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
        assert!(page.location().is_none());
    }
    let twice = browser
        .post(
            "/login/otp",
            &[
                ("csrf".to_owned(), csrf.clone()),
                ("otp".to_owned(), "123456".to_owned()),
                ("otp".to_owned(), "654321".to_owned()),
            ],
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST, "{}", twice.body);
    let reloaded = browser.get("/login/otp").await;
    assert_eq!(
        reloaded.status,
        StatusCode::BAD_REQUEST,
        "{}",
        reloaded.body
    );
    assert!(
        reloaded.is_html() && reloaded.body.contains("expired"),
        "{}",
        reloaded.body
    );
    let forged = browser
        .post("/login/otp", &[("otp".to_owned(), "123456".to_owned())])
        .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "no CSRF field: {}",
        forged.body
    );
}

#[test]
fn operators_enrol_show_and_reset_second_factors() {
    let scratch = Scratch::new();
    let out = scratch.run_with_stdin(
        &["user", "create", "--username", "alice", "--password-stdin"],
        "correct horse battery staple\n",
    );
    assert_success(&out, &["user", "create"]);
    let none = scratch.json(&["user", "mfa", "alice"]);
    assert_eq!(none["totp"], false, "{none}");
    assert_eq!(none["username"], "alice");
    assert!(none["totp_enrolled_at"].is_null(), "{none}");

    let enrolled = scratch.json(&["user", "mfa", "ALICE", "--enroll-totp"]);
    assert_eq!(enrolled["totp"], true, "{enrolled}");
    let key = enrolled["totp_secret"].as_str().unwrap();
    assert!(TotpSecret::from_base32(key).is_some(), "{key}");
    let uri = enrolled["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/127.0.0.1:alice?secret="),
        "{uri}"
    );
    assert!(uri.contains(key));
    assert!(
        !crate::support::contains(&scratch.database_bytes(), key.as_bytes()),
        "the key is sealed in the database"
    );
    // Shown once: reading the factors never shows the key again.
    let shown = scratch.json(&["user", "mfa", "alice"]);
    assert_eq!(shown["totp"], true);
    assert!(shown.get("totp_secret").is_none(), "{shown}");
    assert!(shown["totp_enrolled_at"].is_string(), "{shown}");

    let twice = scratch.run(&["user", "mfa", "alice", "--enroll-totp"]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(stderr(&twice).contains("mfa-reset"), "{}", stderr(&twice));

    let reset = scratch.json(&["user", "mfa-reset", "alice"]);
    assert_eq!(reset["totp"], false, "{reset}");
    assert_eq!(reset["removed"], true);
    assert_eq!(reset["sessions_ended"], true);
    let events = scratch.run(&["audit", "list", "--type", "mfa.reset"]);
    assert_success(&events, &["audit", "list"]);
    assert!(String::from_utf8_lossy(&events.stdout).contains("mfa.reset"));

    let unknown = scratch.run(&["user", "mfa", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", stderr(&unknown));

    let client = scratch.json(&[
        "client",
        "create",
        "--name",
        "Strict",
        "--client-id",
        "strict",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--require-mfa",
    ]);
    assert_eq!(client["require_mfa"], true, "{client}");
    let updated = scratch.json(&["client", "update", "strict", "--require-mfa", "false"]);
    assert_eq!(updated["require_mfa"], false, "{updated}");
}
