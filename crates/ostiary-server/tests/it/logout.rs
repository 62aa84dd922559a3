//! RP-initiated logout (`/logout`): the redirect to a registered `post_logout_redirect_uri`
//! with `state`, the end of the session and of the refresh tokens bound to it, and the
//! refusal of unregistered destinations.

use crate::support::{
    APP_LOGOUT_REDIRECT, Browser, Page, TestApp, add_user, code_request, pkce, redeem_code,
    serve_app, use_refresh_token, web_client,
};
use reqwest::StatusCode;
use serde_json::Value;

const CLIENT: &str = "webapp";

struct Signed {
    _app: TestApp,
    base: String,
    secret: String,
    browser: Browser,
}

impl Signed {
    /// A user signed in to the web client in a browser.
    async fn in_() -> Self {
        let (app, base) = serve_app(&[]).await;
        add_user(&app).await;
        let secret = app.client(web_client(CLIENT, false)).await.unwrap();
        let browser = Browser::new(&base);
        Self {
            _app: app,
            base,
            secret,
            browser,
        }
    }

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

    /// With consent given, a live session goes straight back with a code; else the login page.
    async fn session_alive(&self) -> bool {
        let (challenge, _) = pkce();
        let page = self
            .browser
            .authorize(&code_request(CLIENT, "openid", "probe", &challenge))
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

    async fn logout(&self, params: &[(&str, &str)]) -> Page {
        let mut url = url::Url::parse(&format!("{}/logout", self.base)).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        self.browser.get(url.as_str()).await
    }

    /// Without a hint for this session, logout asks first; this answers "Sign out".
    async fn confirm(&self, page: &Page, names: &[&str]) -> Page {
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(r#"action="/logout""#), "{}", page.body);
        let mut fields = vec![
            ("csrf".to_owned(), page.input("csrf").unwrap()),
            ("confirm".to_owned(), "yes".to_owned()),
        ];
        for name in names {
            fields.push(((*name).to_owned(), page.input(name).unwrap()));
        }
        self.browser.post("/logout", &fields).await
    }
}

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_a_forged_confirmation_does_nothing() {
    let signed = Signed::in_().await;
    signed.tokens("openid").await;
    let page = signed.logout(&[]).await;
    assert!(page.body.contains("Sign out?"), "{}", page.body);
    assert!(
        signed.session_alive().await,
        "a bare link must not sign out"
    );
    let forged = signed
        .browser
        .post(
            "/logout",
            &[
                ("confirm".to_owned(), "yes".to_owned()),
                ("csrf".to_owned(), "forged".to_owned()),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::OK);
    assert!(
        signed.session_alive().await,
        "a forged confirmation must not sign out"
    );
    let done = signed.confirm(&page, &[]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("You are signed out"), "{}", done.body);
    assert!(!signed.session_alive().await);
}

#[tokio::test]
async fn logout_with_id_token_hint_redirects_with_state_and_ends_the_session() {
    let signed = Signed::in_().await;
    let oidc = signed.tokens("openid profile").await;
    let id_token = oidc["id_token"].as_str().unwrap().to_owned();
    // A plain OAuth request of the same session: a refresh token that is not offline.
    let oauth = signed.tokens("profile").await;
    let session_refresh = oauth["refresh_token"].as_str().unwrap().to_owned();
    assert!(signed.session_alive().await, "control: the session works");

    let state = "bye & see you #1 ✓";
    let page = signed
        .logout(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", APP_LOGOUT_REDIRECT),
            ("state", state),
        ])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().unwrap();
    assert!(
        location.as_str().starts_with(APP_LOGOUT_REDIRECT),
        "{location}"
    );
    assert_eq!(page.redirect_param("state").as_deref(), Some(state));

    assert!(!signed.browser.has_session_cookie(), "cookie not removed");
    assert!(!signed.session_alive().await, "the session survived logout");
    let (status, json) = signed.refresh(&session_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"], "invalid_grant", "{json}");
}

#[tokio::test]
async fn the_session_is_gone_server_side_not_only_its_cookie() {
    let signed = Signed::in_().await;
    signed.tokens("openid").await;
    let cookies = signed.browser.cookies();
    assert!(signed.browser.has_session_cookie(), "control: signed in");
    let page = signed.logout(&[]).await;
    let page = signed.confirm(&page, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // A copy of the old cookie (kept by an attacker, or a second tab) no longer works.
    let (challenge, _) = pkce();
    let mut url = url::Url::parse(&format!("{}/authorize", signed.base)).unwrap();
    url.query_pairs_mut()
        .extend_pairs(code_request(CLIENT, "openid", "s", &challenge));
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url.as_str())
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(body.contains(r#"action="/login""#), "{body}");
}

#[tokio::test]
async fn logout_keeps_offline_refresh_tokens() {
    let signed = Signed::in_().await;
    let offline = signed.tokens("openid offline_access").await;
    let refresh_token = offline["refresh_token"].as_str().unwrap().to_owned();
    let page = signed
        .logout(&[
            ("client_id", CLIENT),
            ("post_logout_redirect_uri", APP_LOGOUT_REDIRECT),
        ])
        .await;
    let page = signed
        .confirm(&page, &["client_id", "post_logout_redirect_uri"])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.redirect_param("state"), None);
    assert!(!signed.session_alive().await);
    let (status, json) = signed.refresh(&refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

#[tokio::test]
async fn logout_to_an_unregistered_uri_is_a_page_not_a_redirect() {
    let signed = Signed::in_().await;
    let oidc = signed.tokens("openid").await;
    let id_token = oidc["id_token"].as_str().unwrap().to_owned();
    for (hint, client_id, uri) in [
        (
            Some(id_token.as_str()),
            None,
            "https://evil.example.com/bye",
        ),
        (
            Some(id_token.as_str()),
            None,
            "https://app.example.com/signed-out/x",
        ),
        (None, Some(CLIENT), "https://evil.example.com/bye"),
        // The redirect URI of the code flow is not a post-logout redirect URI.
        (Some(id_token.as_str()), None, crate::support::APP_REDIRECT),
        // A registered URI without anything naming the client.
        (None, None, APP_LOGOUT_REDIRECT),
        // A hint that is no ID token of this server.
        (Some("not.a.jwt"), None, APP_LOGOUT_REDIRECT),
    ] {
        let mut params = vec![("post_logout_redirect_uri", uri), ("state", "s")];
        if let Some(hint) = hint {
            params.push(("id_token_hint", hint));
        }
        if let Some(client_id) = client_id {
            params.push(("client_id", client_id));
        }
        let page = signed.logout(&params).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}: {}", page.body);
        assert!(page.location().is_none(), "{uri}: {:?}", page.location());
        assert!(page.is_html());
    }
}

/// The rules of the authorization endpoint: one value per parameter, no control characters,
/// `state` within its length; a page, never a redirect, and the session lives on.
#[tokio::test]
async fn logout_with_repeated_or_control_character_parameters_is_a_page() {
    let signed = Signed::in_().await;
    let oidc = signed.tokens("openid").await;
    let id_token = oidc["id_token"].as_str().unwrap().to_owned();
    let long_state = "s".repeat(ostiary_core::authorize::MAX_STATE_LEN + 1);
    for (what, extra) in [
        ("state with CR LF", vec![("state", "a\r\nb")]),
        ("a NUL elsewhere", vec![("ui_locales", "en\u{0}")]),
        (
            "client_id twice",
            vec![("client_id", CLIENT), ("client_id", "other")],
        ),
        ("state twice", vec![("state", "a"), ("state", "b")]),
        ("state too long", vec![("state", long_state.as_str())]),
    ] {
        let mut params = vec![
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", APP_LOGOUT_REDIRECT),
        ];
        params.extend(extra);
        let page = signed.logout(&params).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            page.body
        );
        assert!(page.location().is_none(), "{what}: {:?}", page.location());
    }
    assert!(signed.session_alive().await);
}
