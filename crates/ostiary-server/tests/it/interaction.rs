//! The interaction behind the login and consent pages: kept server-side, bound to the browser
//! that started it, finished once, expiring, and decided only by the user it was shown to.

use std::sync::Arc;

use ostiary_core::clock::ManualClock;
use reqwest::StatusCode;

use crate::support::{
    Browser, Page, TestApp, USER, USER_PASSWORD, add_user, add_user_with_password, code_request,
    pkce, serve_app, serve_app_with_clock, web_client,
};

const CLIENT: &str = "webapp";

async fn setup_with(app: (TestApp, String)) -> (TestApp, String, Browser) {
    let (app, base) = app;
    add_user(&app).await;
    app.client(web_client(CLIENT, false)).await.unwrap();
    let browser = Browser::new(&base);
    (app, base, browser)
}

/// An HTML page saying the sign-in cannot continue: 400, no redirect, no form, no session.
#[track_caller]
fn assert_ended(page: &Page, browser: &Browser) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.location().is_none(), "{:?}", page.location());
    assert!(
        !page.is_login_form() && !page.is_consent_form(),
        "{}",
        page.body
    );
    assert!(page.body.contains("expired"), "{}", page.body);
    assert!(!browser.has_session_cookie());
}

#[tokio::test]
async fn the_pages_carry_an_opaque_id_not_the_request() {
    let (_app, _base, browser) = setup_with(serve_app(&[]).await).await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "state-xyzzy", &challenge))
        .await;
    assert!(login.is_login_form(), "{}", login.body);
    let id = login.input("interaction").expect("interaction field");
    assert!(id.len() >= 43, "{id}");
    for request_text in ["state-xyzzy", &challenge, "redirect_uri", "code_challenge"] {
        assert!(
            !login.body.contains(request_text),
            "{request_text} in the page"
        );
    }
}

#[tokio::test]
async fn an_interaction_cannot_be_advanced_from_another_browser() {
    let (_app, base, browser) = setup_with(serve_app(&[]).await).await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s1", &challenge))
        .await;
    let stolen = login.input("interaction").unwrap();
    // Another browser, with a CSRF cookie and field of its own, posts the stolen id.
    let other = Browser::new(&base);
    let own_form = other.get("/login").await;
    let fields = vec![
        ("csrf".to_owned(), own_form.input("csrf").unwrap()),
        ("interaction".to_owned(), stolen),
        ("username".to_owned(), USER.to_owned()),
        ("password".to_owned(), USER_PASSWORD.to_owned()),
    ];
    let page = other.post("/login", &fields).await;
    assert_ended(&page, &other);
    // The browser that started it still can continue.
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
}

#[tokio::test]
async fn a_consent_form_posted_twice_finishes_once() {
    let (_app, _base, browser) = setup_with(serve_app(&[]).await).await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s2", &challenge))
        .await;
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    let first = browser.submit_consent(&consent, "approve").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert!(first.redirect_param("code").is_some());
    let second = browser.submit_consent(&consent, "approve").await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST, "{}", second.body);
    assert!(second.location().is_none());
}

#[tokio::test]
async fn an_interaction_expires() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let (_app, _base, browser) = setup_with(serve_app_with_clock(&[], clock.clone()).await).await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s3", &challenge))
        .await;
    clock.advance(time::Duration::minutes(16));
    let page = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert_ended(&page, &browser);
}

#[tokio::test]
async fn a_consent_page_is_decided_only_by_the_user_it_was_shown_to() {
    let (app, _base, browser) = setup_with(serve_app(&[]).await).await;
    add_user_with_password(&app, "bob", "bob's own passphrase").await;
    let (challenge, _) = pkce();
    let login = browser
        .authorize(&code_request(CLIENT, "openid", "s4", &challenge))
        .await;
    let consent = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    // In another tab of the same browser, bob signs in: the session is now his.
    let standalone = browser.get("/login").await;
    let signed_in = browser
        .submit_login(&standalone, "bob", "bob's own passphrase")
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    // The consent page shown to the first user does not approve anything for bob: he is
    // asked himself.
    let page = browser.submit_consent(&consent, "approve").await;
    assert!(page.is_consent_form(), "{}", page.body);
    assert!(page.body.contains("bob"), "{}", page.body);
    assert!(page.location().is_none());
}
