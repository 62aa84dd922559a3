//! Signed authorization requests (RFC 9101), signed by `jsonwebtoken` with the client's key:
//! the object's claims are the request, by value at `/authorize` or inside a pushed request;
//! an unsigned, misaddressed, replayed, foreign-key or overlong object is an error page.

use ostiary_core::client::{ClientJwks, ClientRegistration, TokenEndpointAuthMethod};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    APP_REDIRECT, Browser, ClientKey, add_user, now, pkce, post_client_form, redeem_code,
    serve_app, unique, web_client,
};

/// The confidential client `web` (secret returned), holding `key` for its request objects.
async fn signing_client(app: &crate::support::TestApp, key: &ClientKey) -> String {
    app.client(ClientRegistration {
        jwks: Some(ClientJwks::from_json(&key.jwks()).unwrap()),
        auth_method: Some(TokenEndpointAuthMethod::ClientSecretBasic),
        ..web_client("web", false)
    })
    .await
    .unwrap()
}

/// The claims of a request object for `web` to `aud` with the PKCE `challenge`.
fn request_claims(aud: &str, challenge: &str) -> Value {
    json!({
        "iss": "web", "aud": aud, "exp": now() + 300, "nbf": now(), "jti": unique("jar"),
        "client_id": "web", "response_type": "code", "redirect_uri": APP_REDIRECT,
        "scope": "openid", "state": "signed-state", "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
}

/// Signs `claims` as a request object (`typ` `oauth-authz-req+jwt`, `kid` `k1`).
fn request_object(key: &ClientKey, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("oauth-authz-req+jwt".into());
    header.kid = Some("k1".into());
    key.sign(&header, claims)
}

fn by_value(client_id: &str, request: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    [("client_id", client_id), ("request", request)]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_signed_request_is_the_request_and_is_used_once() {
    let (app, base) = serve_app(&[]).await;
    let key = ClientKey::generate();
    let secret = signing_client(&app, &key).await;
    add_user(&app).await;
    let (challenge, verifier) = pkce();
    let object = request_object(&key, &request_claims(&base, &challenge));

    // Parameters beside the object are ignored.
    let browser = Browser::new(&base);
    let page = browser
        .sign_in_and_approve(&by_value(
            "web",
            &object,
            &[("scope", "openid email"), ("state", "forged")],
        ))
        .await;
    assert_eq!(
        page.redirect_param("state").as_deref(),
        Some("signed-state")
    );
    let code = page.redirect_param("code").expect("a code");
    let (status, tokens) = redeem_code(&base, "web", Some(&secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "openid");

    let again = browser.authorize(&by_value("web", &object, &[])).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "a replayed jti");
    assert!(again.location().is_none());
}

#[tokio::test]
async fn bad_request_objects_are_error_pages_never_redirects() {
    let (app, base) = serve_app(&[]).await;
    let key = ClientKey::generate();
    signing_client(&app, &key).await;
    app.client(web_client("other", true)).await;
    let stranger = ClientKey::generate();
    let (challenge, _) = pkce();
    let claims = || request_claims(&base, &challenge);
    let with = |name: &str, value: Value| {
        let mut claims = claims();
        claims[name] = value;
        claims
    };
    let unsigned = {
        use base64::Engine;
        let b64 = |v: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let header = json!({ "alg": "none", "typ": "oauth-authz-req+jwt" });
        format!("{}.{}.", b64(header), b64(claims()))
    };
    let untyped = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        key.sign(&header, &claims())
    };
    let cases = [
        ("alg none", "web", unsigned),
        ("typ JWT", "web", untyped),
        (
            "another audience",
            "web",
            request_object(&key, &with("aud", json!("https://elsewhere.example"))),
        ),
        (
            "an unknown key",
            "web",
            request_object(&stranger, &claims()),
        ),
        (
            "no jti",
            "web",
            request_object(&key, &{
                let mut c = claims();
                c.as_object_mut().unwrap().remove("jti");
                c
            }),
        ),
        (
            "valid for a day",
            "web",
            request_object(&key, &with("exp", json!(now() + 86_400))),
        ),
        (
            "expired",
            "web",
            request_object(&key, &with("exp", json!(now() - 120))),
        ),
        (
            "client_id inside differs",
            "web",
            request_object(&key, &with("client_id", json!("other"))),
        ),
        (
            "client_id outside differs",
            "other",
            request_object(&key, &claims()),
        ),
        (
            "a nested request_uri",
            "web",
            request_object(&key, &with("request_uri", json!("urn:x"))),
        ),
        (
            "nbf at the dawn of time",
            "web",
            request_object(&key, &with("nbf", json!(i64::MIN))),
        ),
    ];
    let browser = Browser::new(&base);
    for (what, client_id, object) in cases {
        let page = browser.authorize(&by_value(client_id, &object, &[])).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            page.body
        );
        assert!(page.location().is_none(), "{what} redirected");
        assert!(
            page.body.contains("request object"),
            "{what}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn a_request_object_may_be_pushed() {
    let (app, base) = serve_app(&[]).await;
    let key = ClientKey::generate();
    let secret = signing_client(&app, &key).await;
    let (challenge, _) = pkce();
    let object = request_object(&key, &request_claims(&base, &challenge));
    let (status, pushed) = post_client_form(
        &base,
        "/par",
        "web",
        Some(&secret),
        &[("request", object.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    let browser = Browser::new(&base);
    let page = browser
        .authorize(&[
            ("client_id".to_owned(), "web".to_owned()),
            (
                "request_uri".to_owned(),
                pushed["request_uri"].as_str().unwrap().to_owned(),
            ),
        ])
        .await;
    assert!(page.is_login_form(), "{}", page.body);
    // Its jti was spent when it was pushed.
    let (status, body) = post_client_form(
        &base,
        "/par",
        "web",
        Some(&secret),
        &[("request", object.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request_object");
}
