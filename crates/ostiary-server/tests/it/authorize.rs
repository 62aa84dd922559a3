//! The authorization endpoint and its forms driven as a browser would: PKCE, redirect URI
//! checks, `state` round trip, consent denial, CSRF, wrong passwords, `prompt=none`, and the
//! RFC 8252 loopback port rule.

use crate::support::{
    APP_REDIRECT, Browser, Page, TestApp, USER, USER_PASSWORD, add_user, add_user_with_password,
    code_request, pkce, redeem_code, serve_app, set_param, web_client,
};
use ostiary_core::client::{RedirectUri, UriPolicy};
use reqwest::StatusCode;

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
    let (status, json) = crate::support::post_client_form(
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
        (
            "interaction".to_owned(),
            login.input("interaction").unwrap(),
        ),
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
        (
            "interaction".to_owned(),
            login.input("interaction").unwrap(),
        ),
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
        (
            "interaction".to_owned(),
            consent.input("interaction").unwrap(),
        ),
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
    assert_eq!(page.input("interaction"), login.input("interaction"));
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
    let (status, json) = crate::support::post_client_form(
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
    let (status, headers, _) = crate::support::send(&app, request).await;
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
        // Both assets are named, so a browser asks for nothing that 404s (no /favicon.ico).
        assert!(page.body.contains(r#"href="/assets/favicon.svg""#));
    }
    for (path, content_type) in [
        ("/assets/ostiary.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let asset = browser.get(path).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert_eq!(asset.headers["content-type"], content_type);
        assert_eq!(asset.headers["x-content-type-options"], "nosniff");
    }
}

/// RFC 8252 7.3 and 8.4, RFC 9700 4.1.3: a loopback redirect URI matches byte for byte apart
/// from the port. Another spelling of the same address, scheme or path is another URI: the
/// error page, never a redirect.
#[tokio::test]
async fn a_loopback_redirect_uri_is_not_normalised() {
    let (app, base) = serve_app(&[]).await;
    let policy = UriPolicy {
        allow_insecure_http: false,
    };
    let mut registration = web_client("native", true);
    registration.redirect_uris = vec![RedirectUri::parse("http://127.0.0.1/cb", policy).unwrap()];
    app.client(registration).await;
    let browser = Browser::new(&base);
    let (challenge, _) = pkce();
    for other in [
        "http://127.1:5000/cb",
        "http://2130706433:5000/cb",
        "http://0x7f.0.0.1:5000/cb",
        "HTTP://127.0.0.1:5000/cb",
        "http://127.0.0.1:5000/x/../cb",
        "http://127.0.0.1:5000/%2e/cb",
    ] {
        let mut params = code_request("native", "openid", "s15", &challenge);
        set_param(&mut params, "redirect_uri", other);
        let page = browser.authorize(&params).await;
        assert_error_page(&page, StatusCode::BAD_REQUEST);
    }
    // Control: the same request with a port on the registered spelling goes to the login page.
    let mut params = code_request("native", "openid", "s15", &challenge);
    set_param(&mut params, "redirect_uri", "http://127.0.0.1:5000/cb");
    assert!(browser.authorize(&params).await.is_login_form());
}

/// OpenID Connect Core 3.1.2.1: unknown scope values of an OpenID Connect request are
/// ignored, and the token response says what was granted (RFC 6749 3.3). A plain OAuth
/// request still refuses them.
#[tokio::test]
async fn unknown_scopes_are_dropped_from_openid_requests_only() {
    let (_app, base, secret, browser) = setup().await;
    let (code, verifier) = browser.obtain_code(CLIENT, "openid x-unknown").await;
    let (status, json) = redeem_code(&base, CLIENT, Some(&secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["scope"], "openid", "{json}");
    assert!(json["id_token"].is_string(), "{json}");

    let (challenge, _) = pkce();
    let page = browser
        .authorize(&code_request(
            CLIENT,
            "profile x-unknown",
            "s16",
            &challenge,
        ))
        .await;
    assert_error_redirect(&page, &base, "invalid_scope", "s16");
}

const BOB_PASSWORD: &str = "bob's long passphrase";

/// OpenID Connect Core 3.1.2.1: an `id_token_hint` names who must be signed in. A browser
/// signed in as bob, asked for alice with `prompt=none`, gets `login_required`; without
/// `prompt=none`, the login page for alice. `login_hint` pre-fills the username.
#[tokio::test]
async fn id_token_hint_of_another_user_is_honoured() {
    let (app, base, secret, alice) = setup().await;
    crate::support::add_user_with_password(&app, "bob", BOB_PASSWORD).await;
    let (code, verifier) = alice.obtain_code(CLIENT, "openid").await;
    let (status, tokens) = redeem_code(&base, CLIENT, Some(&secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let alice_hint = tokens["id_token"].as_str().unwrap().to_owned();

    // A browser signed in as bob, with consent given.
    let bob = Browser::new(&base);
    let (challenge, _) = pkce();
    let login = bob
        .authorize(&code_request(CLIENT, "openid", "s17", &challenge))
        .await;
    let consent = bob.submit_login(&login, "bob", BOB_PASSWORD).await;
    let done = bob.submit_consent(&consent, "approve").await;
    assert!(
        done.redirect_param("code").is_some(),
        "{:?}",
        done.location()
    );

    let mut params = code_request(CLIENT, "openid", "s18", &challenge);
    set_param(&mut params, "id_token_hint", &alice_hint);
    set_param(&mut params, "prompt", "none");
    let page = bob.authorize(&params).await;
    assert_error_redirect(&page, &base, "login_required", "s18");

    set_param(&mut params, "prompt", "");
    let page = bob.authorize(&params).await;
    assert!(page.is_login_form(), "{}", page.body);
    assert_eq!(page.input("username").as_deref(), Some(USER));

    // The hint naming the signed-in user: straight back with a code.
    let mut params = code_request(CLIENT, "openid", "s19", &challenge);
    set_param(&mut params, "id_token_hint", &alice_hint);
    set_param(&mut params, "prompt", "none");
    let page = alice.authorize(&params).await;
    assert!(
        page.redirect_param("code").is_some(),
        "{:?}",
        page.location()
    );

    // A hint that is not an ID token of this server is an invalid request.
    let mut params = code_request(CLIENT, "openid", "s20", &challenge);
    set_param(&mut params, "id_token_hint", "eyJhbGciOiJub25lIn0.e30.");
    let page = alice.authorize(&params).await;
    assert_error_redirect(&page, &base, "invalid_request", "s20");

    // login_hint pre-fills the form.
    let fresh = Browser::new(&base);
    let mut params = code_request(CLIENT, "openid", "s21", &challenge);
    set_param(&mut params, "login_hint", "carol");
    let page = fresh.authorize(&params).await;
    assert!(page.is_login_form());
    assert_eq!(page.input("username").as_deref(), Some("carol"));
}

crate::on_both_backends!(
    control_characters_are_refused_at_the_edge,
    resource_requests_get_exactly_their_audience,
);

/// Parameters that end up in rows and tokens refuse control characters with
/// `invalid_request`, the same on both backends (PostgreSQL text cannot hold a NUL).
async fn control_characters_are_refused_at_the_edge(backend: crate::support::Backend) {
    let Some((app, base)) =
        crate::support::serve_app_on(backend, &[], std::sync::Arc::new(ostiary_core::SystemClock))
            .await
    else {
        return;
    };
    add_user(&app).await;
    app.client(web_client(CLIENT, false)).await;
    let browser = Browser::new(&base);
    // Signed in and consented first, so a request that got through would reach the store.
    browser.obtain_code(CLIENT, "openid").await;
    let (challenge, _) = pkce();
    for (name, value) in [
        ("nonce", "a\0b"),
        ("nonce", "a\nb"),
        ("login_hint", "al\u{7f}ice"),
        ("ui_locales", "en\0"),
    ] {
        let mut params = code_request(CLIENT, "openid", "s22", &challenge);
        set_param(&mut params, name, value);
        let page = browser.authorize(&params).await;
        assert_error_redirect(&page, &base, "invalid_request", "s22");
    }
    // A control character in state itself: the error comes back without it.
    let mut params = code_request(CLIENT, "openid", "s\0", &challenge);
    set_param(&mut params, "prompt", "none");
    let page = browser.authorize(&params).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        page.redirect_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(page.redirect_param("state"), None);
}

/// RFC 8707 and RFC 9068 3: with `resource`, `aud` is exactly the requested resources (no
/// userinfo audience, so userinfo refuses the token); `resource` at the token endpoint
/// narrows within what was authorized, at code exchange and refresh alike, and anything else
/// is `invalid_target`.
async fn resource_requests_get_exactly_their_audience(backend: crate::support::Backend) {
    use ostiary_core::client::Audience;
    let Some((app, base)) =
        crate::support::serve_app_on(backend, &[], std::sync::Arc::new(ostiary_core::SystemClock))
            .await
    else {
        return;
    };
    add_user(&app).await;
    const API: &str = "https://api.example";
    const OTHER: &str = "https://other.example";
    let mut registration = web_client(CLIENT, false);
    registration.audiences = vec![
        Audience::parse(API).unwrap(),
        Audience::parse(OTHER).unwrap(),
    ];
    let secret = app.client(registration).await.unwrap();
    let browser = Browser::new(&base);
    let scope = "openid offline_access";

    let authorize = |resources: &[&str]| {
        let (challenge, verifier) = pkce();
        let mut params = code_request(CLIENT, scope, "s23", &challenge);
        for resource in resources {
            params.push(("resource".to_owned(), (*resource).to_owned()));
        }
        (params, verifier)
    };
    let redeem = |code: String, verifier: String, resources: Vec<&'static str>| {
        let base = base.clone();
        let secret = secret.clone();
        async move {
            let mut fields = vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", APP_REDIRECT),
                ("code_verifier", verifier.as_str()),
            ];
            fields.extend(resources.iter().map(|r| ("resource", *r)));
            crate::support::post_client_form(&base, "/token", CLIENT, Some(&secret), &fields).await
        }
    };

    // One resource at authorize: the token is for it alone, and userinfo refuses it.
    let (params, verifier) = authorize(&[API]);
    let page = browser.sign_in_and_approve(&params).await;
    let code = page.redirect_param("code").expect("code");
    let (status, tokens) = redeem(code, verifier, vec![]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(crate::support::jwt_claims(access)["aud"], API);
    let userinfo = reqwest::Client::new()
        .get(format!("{base}/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);

    // Two resources at authorize, one at the token endpoint, the other at refresh.
    let (params, verifier) = authorize(&[API, OTHER]);
    let page = browser.sign_in_and_approve(&params).await;
    let code = page.redirect_param("code").expect("code");
    let (status, tokens) = redeem(code, verifier, vec![API]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        crate::support::jwt_claims(tokens["access_token"].as_str().unwrap())["aud"],
        API
    );
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) = crate::support::post_client_form(
        &base,
        "/token",
        CLIENT,
        Some(&secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("resource", OTHER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(
        crate::support::jwt_claims(refreshed["access_token"].as_str().unwrap())["aud"],
        OTHER
    );
    let next = refreshed["refresh_token"].as_str().unwrap();
    let (status, json) = crate::support::post_client_form(
        &base,
        "/token",
        CLIENT,
        Some(&secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", next),
            ("resource", "https://elsewhere.example"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"], "invalid_target", "{json}");

    // A resource at the token endpoint outside the authorized set: invalid_target.
    let (params, verifier) = authorize(&[API]);
    let page = browser.sign_in_and_approve(&params).await;
    let code = page.redirect_param("code").expect("code");
    let (status, json) = redeem(code, verifier, vec![OTHER]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"], "invalid_target", "{json}");

    // Without resource, an OpenID Connect token keeps the userinfo audience.
    let (params, verifier) = authorize(&[]);
    let page = browser.sign_in_and_approve(&params).await;
    let code = page.redirect_param("code").expect("code");
    let (status, tokens) = redeem(code, verifier, vec![]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let aud = crate::support::jwt_claims(tokens["access_token"].as_str().unwrap())["aud"].clone();
    assert!(
        aud.as_array()
            .is_some_and(|a| a.iter().any(|v| *v == format!("{base}/userinfo"))),
        "{aud}"
    );
}
