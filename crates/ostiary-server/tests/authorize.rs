//! The authorization endpoint and its forms driven as a browser would: PKCE, redirect URI
//! checks, `state` round trip, consent denial, CSRF, wrong passwords, `prompt=none`, and the
//! RFC 8252 loopback port rule.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use ostiary_core::client::{RedirectUri, UriPolicy};
use reqwest::StatusCode;
use support::{
    APP_REDIRECT, Browser, Page, TestApp, USER, USER_PASSWORD, add_user, add_user_with_password,
    code_request, pkce, redeem_code, serve_app, set_param, web_client,
};

const CLIENT: &str = "webapp";

/// A served app with the user and a confidential web client; a fresh browser.
async fn setup() -> (TestApp, String, String, Browser) {
    let (app, base) = serve_app(&[]).await;
    add_user(&app).await;
    let secret = app.client(web_client(CLIENT, false)).await.unwrap();
    let browser = Browser::new(&base);
    (app, base, secret, browser)
}

/// An error sent back to `APP_REDIRECT` with `state` and `iss` (RFC 9207).
#[track_caller]
fn assert_error_redirect(page: &Page, base: &str, error: &str, state: &str) {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().expect("Location");
    assert!(
        location.as_str().starts_with(&format!("{APP_REDIRECT}?")),
        "{location}"
    );
    assert_eq!(
        page.redirect_param("error").as_deref(),
        Some(error),
        "{location}"
    );
    assert_eq!(page.redirect_param("code"), None, "{location}");
    assert_eq!(page.redirect_param("state").as_deref(), Some(state));
    assert_eq!(page.redirect_param("iss").as_deref(), Some(base));
}

/// An HTML error page with this status and no redirect anywhere.
#[track_caller]
fn assert_error_page(page: &Page, status: StatusCode) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.location().is_none(), "{:?}", page.location());
    assert!(page.is_html(), "{:?}", page.headers);
    assert!(!page.is_login_form() && !page.is_consent_form());
}

#[tokio::test]
async fn a_wrong_code_verifier_is_invalid_grant() {
    let (_app, base, secret, browser) = setup().await;
    let (code, _verifier) = browser.obtain_code(CLIENT, "openid").await;
    let (_, other_verifier) = pkce();
    let (status, json) = redeem_code(&base, CLIENT, Some(&secret), &code, &other_verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"], "invalid_grant");
}

#[tokio::test]
async fn a_missing_code_verifier_is_refused() {
    let (_app, base, secret, browser) = setup().await;
    let (code, _verifier) = browser.obtain_code(CLIENT, "openid").await;
    let (status, json) = support::post_client_form(
        &base,
        "/token",
        CLIENT,
        Some(&secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        json["error"] == "invalid_grant" || json["error"] == "invalid_request",
        "{json}"
    );
}

#[tokio::test]
async fn a_missing_code_challenge_is_invalid_request_at_the_client() {
    let (_app, base, _secret, browser) = setup().await;
    let mut params = code_request(CLIENT, "openid", "s1", "unused");
    set_param(&mut params, "code_challenge", "");
    set_param(&mut params, "code_challenge_method", "");
    let page = browser.authorize(&params).await;
    assert_error_redirect(&page, &base, "invalid_request", "s1");
}

#[tokio::test]
async fn the_plain_code_challenge_method_is_refused() {
    let (_app, base, _secret, browser) = setup().await;
    let (_, verifier) = pkce();
    let mut params = code_request(CLIENT, "openid", "s2", &verifier);
    set_param(&mut params, "code_challenge_method", "plain");
    let page = browser.authorize(&params).await;
    assert_error_redirect(&page, &base, "invalid_request", "s2");
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_a_page_not_a_redirect() {
    let (_app, _base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    for uri in [
        "https://evil.example.com/cb",
        "https://app.example.com/cb/extra",
        "https://app.example.com/cb?x=1",
        "https://app.example.com:8443/cb",
    ] {
        let mut params = code_request(CLIENT, "openid", "s3", &challenge);
        set_param(&mut params, "redirect_uri", uri);
        let page = browser.authorize(&params).await;
        assert_error_page(&page, StatusCode::BAD_REQUEST);
    }
    // An unknown client as well.
    let params = code_request("nobody", "openid", "s3", &challenge);
    let page = browser.authorize(&params).await;
    assert_error_page(&page, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn state_round_trips_exactly_through_the_redirect() {
    let (_app, base, secret, browser) = setup().await;
    let state = "a&b=c#d é✓ +%20;/?";
    let (challenge, verifier) = pkce();
    let page = browser
        .sign_in_and_approve(&code_request(CLIENT, "openid", state, &challenge))
        .await;
    assert_eq!(page.redirect_param("state").as_deref(), Some(state));
    assert_eq!(page.redirect_param("iss").as_deref(), Some(base.as_str()));
    // No fragment: `#` in state is encoded, not a fragment delimiter.
    assert_eq!(page.location().unwrap().fragment(), None);
    let code = page.redirect_param("code").unwrap();
    let (status, json) = redeem_code(&base, CLIENT, Some(&secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{json}");

    // An error response carries it back the same way.
    let mut params = code_request(CLIENT, "openid", state, &challenge);
    set_param(&mut params, "code_challenge_method", "plain");
    let page = browser.authorize(&params).await;
    assert_error_redirect(&page, &base, "invalid_request", state);
}

#[tokio::test]
async fn denied_consent_redirects_access_denied_with_state() {
    let (_app, base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid profile", "s4", &challenge))
        .await;
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    let page = browser.submit_consent(&consent, "deny").await;
    assert_error_redirect(&page, &base, "access_denied", "s4");
    // Denying stores no consent: the next request asks again.
    let again = browser
        .authorize(&code_request(CLIENT, "openid profile", "s5", &challenge))
        .await;
    assert!(again.is_consent_form(), "{}", again.body);
}

/// Posts the login form of a fresh login page with the csrf field replaced (`None`: left out).
async fn login_with_csrf(csrf: Option<&str>) -> (Browser, Page) {
    let (_app, _base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s6", &challenge))
        .await;
    assert!(login.is_login_form());
    let mut fields = vec![
        ("request".to_owned(), login.input("request").unwrap()),
        ("username".to_owned(), USER.to_owned()),
        ("password".to_owned(), USER_PASSWORD.to_owned()),
    ];
    if let Some(csrf) = csrf {
        fields.push(("csrf".to_owned(), csrf.to_owned()));
    }
    let page = browser.post("/login", &fields).await;
    (browser, page)
}

#[track_caller]
fn assert_csrf_refused(browser: &Browser, page: &Page) {
    assert_error_page(page, StatusCode::FORBIDDEN);
    assert!(!page.sets_cookie("ostiary_session"), "{:?}", page.headers);
    assert!(!browser.has_session_cookie());
}

#[tokio::test]
async fn login_without_the_csrf_field_is_forbidden() {
    let (browser, page) = login_with_csrf(None).await;
    assert_csrf_refused(&browser, &page);
}

#[tokio::test]
async fn login_with_a_wrong_csrf_token_is_forbidden() {
    let (browser, page) =
        login_with_csrf(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_csrf_refused(&browser, &page);
}

#[tokio::test]
async fn login_without_the_csrf_cookie_is_forbidden() {
    let (_app, base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s7", &challenge))
        .await;
    // A cross-site page holds the field's value but not the browser's cookie.
    let attacker = Browser::new(&base);
    let fields = vec![
        ("csrf".to_owned(), login.input("csrf").unwrap()),
        ("request".to_owned(), login.input("request").unwrap()),
        ("username".to_owned(), USER.to_owned()),
        ("password".to_owned(), USER_PASSWORD.to_owned()),
    ];
    let page = attacker.post("/login", &fields).await;
    assert_csrf_refused(&attacker, &page);
}

/// Signs in, then posts the consent form with the csrf field replaced (`None`: left out).
async fn consent_with_csrf(csrf: Option<&str>) -> Page {
    let (_app, _base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s8", &challenge))
        .await;
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    let mut fields = vec![
        ("request".to_owned(), consent.input("request").unwrap()),
        ("decision".to_owned(), "approve".to_owned()),
    ];
    if let Some(csrf) = csrf {
        fields.push(("csrf".to_owned(), csrf.to_owned()));
    }
    let page = browser.post("/consent", &fields).await;
    // Nothing was approved: the next request still asks.
    let again = browser
        .authorize(&code_request(CLIENT, "openid", "s9", &challenge))
        .await;
    assert!(again.is_consent_form(), "{}", again.body);
    page
}

#[tokio::test]
async fn consent_without_the_csrf_field_is_forbidden() {
    let page = consent_with_csrf(None).await;
    assert_error_page(&page, StatusCode::FORBIDDEN);
    assert!(!page.sets_cookie("ostiary_session"));
}

#[tokio::test]
async fn consent_with_a_wrong_csrf_token_is_forbidden() {
    let page = consent_with_csrf(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_error_page(&page, StatusCode::FORBIDDEN);
    assert!(!page.sets_cookie("ostiary_session"));
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_401() {
    let (_app, _base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s10", &challenge))
        .await;
    let page = browser
        .submit_login(&login, USER, "not the right password")
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(page.location().is_none());
    assert!(page.is_login_form(), "{}", page.body);
    assert_eq!(page.input("username").as_deref(), Some(USER));
    assert_eq!(page.input("request"), login.input("request"));
    assert!(!page.sets_cookie("ostiary_session"));
    assert!(!browser.has_session_cookie());
    // An unknown user looks the same.
    let page = browser
        .submit_login(&login, "mallory", "not the right password")
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(page.is_login_form());
    // The form shown again still works.
    let next = browser.submit_login(&page, USER, USER_PASSWORD).await;
    assert!(next.is_consent_form(), "{}", next.body);
}

#[tokio::test]
async fn a_password_set_in_nfc_signs_in_when_typed_in_nfd() {
    let (app, base) = serve_app(&[]).await;
    // "pässwörd ñandú 1": composed when set, decomposed as another keyboard may send it.
    let nfc = "p\u{e4}ssw\u{f6}rd \u{f1}and\u{fa} 1";
    let nfd = "pa\u{308}sswo\u{308}rd n\u{303}andu\u{301} 1";
    add_user_with_password(&app, "nadia", nfc).await;
    app.client(web_client(CLIENT, false)).await.unwrap();
    let browser = Browser::new(&base);
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s13", &challenge))
        .await;
    // A wrong password (one character off, or refused by the profile) still fails.
    for wrong in [
        "pa\u{308}sswo\u{308}rd n\u{303}andu\u{301} 2",
        "p\u{e4}ssw\u{f6}rd\u{0}",
    ] {
        let page = browser.submit_login(&login, "nadia", wrong).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
        assert!(!browser.has_session_cookie());
    }
    let page = browser.submit_login(&login, "nadia", nfd).await;
    assert!(page.is_consent_form(), "{} {}", page.status, page.body);
    assert!(browser.has_session_cookie());
}

#[tokio::test]
async fn prompt_select_account_is_refused_at_the_client_as_not_served() {
    let (_app, base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let mut params = code_request(CLIENT, "openid", "s14", &challenge);
    set_param(&mut params, "prompt", "select_account");
    let page = browser.authorize(&params).await;
    assert_error_redirect(&page, &base, "invalid_request", "s14");
}

#[tokio::test]
async fn a_repeated_parameter_is_named_in_the_error_redirect() {
    let (_app, base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let mut params = code_request(CLIENT, "openid", "s15", &challenge);
    params.push(("scope".to_owned(), "openid".to_owned()));
    let page = browser.authorize(&params).await;
    assert_error_redirect(&page, &base, "invalid_request", "s15");
    let description = page.redirect_param("error_description").unwrap();
    assert_eq!(description, "scope must not be repeated");
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let (_app, base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let mut params = code_request(CLIENT, "openid", "s11", &challenge);
    set_param(&mut params, "prompt", "none");
    let page = browser.authorize(&params).await;
    assert_error_redirect(&page, &base, "login_required", "s11");
}

#[tokio::test]
async fn prompt_none_with_a_session_and_consent_redirects_with_a_code() {
    let (_app, base, _secret, browser) = setup().await;
    browser.obtain_code(CLIENT, "openid").await;
    let (challenge, _) = pkce();
    let mut params = code_request(CLIENT, "openid", "s12", &challenge);
    set_param(&mut params, "prompt", "none");
    let page = browser.authorize(&params).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(
        page.redirect_param("code").is_some(),
        "{:?}",
        page.location()
    );
    assert_eq!(page.redirect_param("state").as_deref(), Some("s12"));
    assert_eq!(page.redirect_param("iss").as_deref(), Some(base.as_str()));
}

#[tokio::test]
async fn a_loopback_redirect_uri_accepts_any_port() {
    let (app, base) = serve_app(&[]).await;
    add_user(&app).await;
    let registered = "http://127.0.0.1/cb";
    let policy = UriPolicy {
        allow_insecure_http: false,
    };
    let mut registration = web_client("native", true);
    registration.redirect_uris = vec![RedirectUri::parse(registered, policy).unwrap()];
    app.client(registration).await;
    let browser = Browser::new(&base);
    let (challenge, verifier) = pkce();
    let presented = "http://127.0.0.1:54321/cb";
    let mut params = code_request("native", "openid", "s13", &challenge);
    set_param(&mut params, "redirect_uri", presented);
    let page = browser.sign_in_and_approve(&params).await;
    let location = page.location().unwrap();
    assert!(
        location.as_str().starts_with(&format!("{presented}?")),
        "{location}"
    );
    let code = page.redirect_param("code").unwrap();
    let (status, json) = support::post_client_form(
        &base,
        "/token",
        "native",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", presented),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");

    // Only the port may vary: another path or host is refused with a page.
    for other in [
        "http://127.0.0.1:54321/other",
        "http://localhost:54321/cb",
        "http://127.0.0.2:54321/cb",
        "https://127.0.0.1:54321/cb",
    ] {
        let mut params = code_request("native", "openid", "s14", &challenge);
        set_param(&mut params, "redirect_uri", other);
        let page = browser.authorize(&params).await;
        assert_error_page(&page, StatusCode::BAD_REQUEST);
    }
}

/// The `Set-Cookie` values of a response for cookie `name` (with or without `__Host-`).
fn set_cookies<'a>(page: &'a Page, name: &str) -> Vec<&'a str> {
    page.headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(&format!("{name}=")) || v.starts_with(&format!("__Host-{name}=")))
        .collect()
}

#[tokio::test]
async fn cookies_are_httponly_and_samesite_lax() {
    let (_app, _base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s15", &challenge))
        .await;
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    for (page, name) in [(&login, "ostiary_csrf"), (&consent, "ostiary_session")] {
        let cookies = set_cookies(page, name);
        assert_eq!(cookies.len(), 1, "{name}: {:?}", page.headers);
        let lower = cookies[0].to_ascii_lowercase();
        assert!(lower.contains("; httponly"), "{}", cookies[0]);
        assert!(lower.contains("; samesite=lax"), "{}", cookies[0]);
        assert!(lower.contains("; path=/"), "{}", cookies[0]);
        assert!(!lower.contains("; secure"), "http issuer: {}", cookies[0]);
    }
}

#[tokio::test]
async fn with_an_https_issuer_cookies_are_host_prefixed_and_secure() {
    let app = TestApp::with_env(&[("OAUTH2_ISSUER", "https://id.example.com")]).await;
    app.client(web_client(CLIENT, false)).await.unwrap();
    let (challenge, _) = pkce();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(code_request(CLIENT, "openid", "s16", &challenge))
        .finish();
    let request = axum::http::Request::get(format!("/authorize?{query}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, headers, _) = support::send(&app, request).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    let cookie = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.contains("ostiary_csrf="))
        .expect("csrf cookie");
    assert!(cookie.starts_with("__Host-ostiary_csrf="), "{cookie}");
    let lower = cookie.to_ascii_lowercase();
    assert!(lower.contains("; secure"), "{cookie}");
    assert!(lower.contains("; httponly"), "{cookie}");
    assert!(lower.contains("; path=/"), "{cookie}");
    assert!(!lower.contains("domain="), "{cookie}");
}

#[tokio::test]
async fn pages_forbid_framing_scripts_referrers_and_caching() {
    let (_app, _base, _secret, browser) = setup().await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s17", &challenge))
        .await;
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    let mut params = code_request(CLIENT, "openid", "s17", &challenge);
    set_param(&mut params, "redirect_uri", "https://evil.example.com/cb");
    let error = browser.authorize(&params).await;
    for page in [&login, &consent, &error] {
        let header = |name: &str| {
            page.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert!(header("cache-control").contains("no-store"));
    }
}
