//! Pushed authorization requests (RFC 9126): a client pushes its request, authenticated, and
//! the browser brings only `client_id` and `request_uri`; the pushed request is checked as
//! `/authorize` checks one, used once, within 60 s, by its own client only.

use std::sync::Arc;

use ostiary_core::SystemClock;
use ostiary_core::client::ClientRegistration;
use ostiary_core::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{
    APP_REDIRECT, Backend, Browser, ClientKey, add_user, assertion_fields, code_request,
    jwt_claims, pkce, post_client_form, redeem_code, serve_app, serve_app_on, serve_app_with_clock,
    set_param, web_client,
};

on_both_backends!(a_pushed_request_logs_the_user_in_and_is_used_once);

/// Pushes `params` for the confidential client `web` (HTTP Basic with `secret`).
async fn push(base: &str, secret: &str, params: &[(String, String)]) -> (StatusCode, Value) {
    let fields: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_client_form(base, "/par", "web", Some(secret), &fields).await
}

/// What the browser sends to `/authorize` for a pushed request, plus `extra`.
fn by_reference(
    client_id: &str,
    request_uri: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    [("client_id", client_id), ("request_uri", request_uri)]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn a_pushed_request_logs_the_user_in_and_is_used_once(backend: Backend) {
    let Some((app, base)) = serve_app_on(backend, &[], Arc::new(SystemClock)).await else {
        return;
    };
    let secret = app.client(web_client("web", false)).await.unwrap();
    add_user(&app).await;
    let (challenge, verifier) = pkce();
    let (status, pushed) = push(
        &base,
        &secret,
        &code_request("web", "openid", "st", &challenge),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    let request_uri = pushed["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert_eq!(pushed["expires_in"], 60);

    // Parameters beside request_uri are ignored: the pushed scope and state hold.
    let browser = Browser::new(&base);
    let page = browser
        .sign_in_and_approve(&by_reference(
            "web",
            &request_uri,
            &[("scope", "openid email"), ("state", "forged")],
        ))
        .await;
    assert_eq!(page.redirect_param("state").as_deref(), Some("st"));
    let code = page.redirect_param("code").expect("a code");
    let (status, tokens) = redeem_code(&base, "web", Some(&secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "openid");
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["aud"],
        "web"
    );

    // Used once: the second time is an error page, never a redirect.
    let again = browser
        .authorize(&by_reference("web", &request_uri, &[]))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.location().is_none());
    assert!(again.body.contains("request_uri"), "{}", again.body);
}

#[tokio::test]
async fn a_request_uri_works_only_for_its_client_and_within_a_minute() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let (app, base) = serve_app_with_clock(&[], clock.clone()).await;
    let secret = app.client(web_client("web", false)).await.unwrap();
    app.client(web_client("other", true)).await;
    add_user(&app).await;
    let (challenge, _) = pkce();
    let request = code_request("web", "openid", "st", &challenge);
    let browser = Browser::new(&base);

    // Another client cannot use it, nor spend it.
    let (_, pushed) = push(&base, &secret, &request).await;
    let request_uri = pushed["request_uri"].as_str().unwrap();
    let stolen = browser
        .authorize(&by_reference("other", request_uri, &[]))
        .await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    assert!(stolen.location().is_none());
    let page = browser
        .authorize(&by_reference("web", request_uri, &[]))
        .await;
    assert!(
        page.is_login_form(),
        "still usable by its client: {}",
        page.body
    );

    // Expired after 60 s.
    let (_, pushed) = push(&base, &secret, &request).await;
    clock.advance(time::Duration::seconds(61));
    let late = browser
        .authorize(&by_reference(
            "web",
            pushed["request_uri"].as_str().unwrap(),
            &[],
        ))
        .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);

    // Made up, or not ours.
    for uri in [
        "urn:ietf:params:oauth:request_uri:made-up",
        "https://attacker.example/request.jwt",
    ] {
        let page = browser.authorize(&by_reference("web", uri, &[])).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(page.location().is_none(), "{uri}");
    }
}

#[tokio::test]
async fn a_push_is_checked_as_an_authorization_request_and_needs_client_authentication() {
    let (app, base) = serve_app(&[]).await;
    let secret = app.client(web_client("web", false)).await.unwrap();
    let (challenge, _) = pkce();
    let good = code_request("web", "openid", "st", &challenge);

    // The client names itself (client_id, added by the helper) but proves nothing.
    let fields: Vec<(&str, &str)> = good
        .iter()
        .filter(|(k, _)| k != "client_id")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, body) = post_client_form(&base, "/par", "web", None, &fields).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no client authentication: {body}"
    );
    assert_eq!(body["error"], "invalid_client");
    let (status, _) = post_client_form(&base, "/par", "web", Some("wrong"), &fields).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut plain = good.clone();
    set_param(&mut plain, "code_challenge_method", "plain");
    let mut elsewhere = good.clone();
    set_param(
        &mut elsewhere,
        "redirect_uri",
        "https://attacker.example/cb",
    );
    let mut no_pkce = good.clone();
    set_param(&mut no_pkce, "code_challenge", "");
    let mut nested = good.clone();
    set_param(
        &mut nested,
        "request_uri",
        "urn:ietf:params:oauth:request_uri:x",
    );
    let mut other_client = good.clone();
    set_param(&mut other_client, "client_id", "someone-else");
    let mut implicit = good.clone();
    set_param(&mut implicit, "response_type", "token");
    for (what, params, error) in [
        ("plain PKCE", plain, "invalid_request"),
        ("an unregistered redirect URI", elsewhere, "invalid_request"),
        ("no PKCE", no_pkce, "invalid_request"),
        ("a request_uri", nested, "invalid_request"),
        ("another client_id", other_client, "invalid_request"),
        ("the implicit grant", implicit, "unsupported_response_type"),
    ] {
        let (status, body) = push(&base, &secret, &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"], error, "{what}");
    }
}

#[tokio::test]
async fn a_key_client_pushes_with_an_assertion_for_the_par_endpoint() {
    let (app, base) = serve_app(&[]).await;
    let key = ClientKey::generate();
    app.client(ClientRegistration {
        jwks: Some(ostiary_core::client::ClientJwks::from_json(&key.jwks()).unwrap()),
        ..web_client("web", false)
    })
    .await;
    let (challenge, _) = pkce();
    let assertion = key.assertion("web", &format!("{base}/par"));
    let mut fields: Vec<(String, String)> = code_request("web", "openid", "st", &challenge);
    fields.extend(
        assertion_fields(&assertion)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let response = reqwest::Client::new()
        .post(format!("{base}/par"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn clients_or_the_server_may_require_pushed_requests() {
    let (app, base) = serve_app(&[]).await;
    let secret = app
        .client(ClientRegistration {
            require_pushed_authorization_requests: true,
            ..web_client("web", false)
        })
        .await
        .unwrap();
    let (challenge, _) = pkce();
    let request = code_request("web", "openid", "st", &challenge);
    let browser = Browser::new(&base);
    let direct = browser.authorize(&request).await;
    assert_eq!(
        direct.redirect_param("error").as_deref(),
        Some("invalid_request")
    );
    let (_, pushed) = push(&base, &secret, &request).await;
    let page = browser
        .authorize(&by_reference(
            "web",
            pushed["request_uri"].as_str().unwrap(),
            &[],
        ))
        .await;
    assert!(page.is_login_form(), "{}", page.body);

    let (app, base) = serve_app(&[("OAUTH2_REQUIRE_PAR", "on")]).await;
    app.client(web_client("web", true)).await;
    let discovery: Value = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["require_pushed_authorization_requests"], true);
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        format!("{base}/par")
    );
    let mut request = code_request("web", "openid", "st", &challenge);
    set_param(&mut request, "redirect_uri", APP_REDIRECT);
    let direct = Browser::new(&base).authorize(&request).await;
    assert_eq!(
        direct.redirect_param("error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn a_dpop_proof_sent_with_the_push_binds_the_code() {
    let (app, base) = serve_app(&[]).await;
    let secret = app.client(web_client("web", false)).await.unwrap();
    add_user(&app).await;
    let key = ClientKey::generate();
    let par_url = format!("{base}/par");
    let http = reqwest::Client::new();
    let push_with_proof = |params: Vec<(String, String)>, proof: String| {
        http.post(&par_url)
            .basic_auth("web", Some(&secret))
            .header("DPoP", proof)
            .form(&params)
            .send()
    };

    // A dpop_jkt naming another key than the proof's is refused.
    let (challenge, verifier) = pkce();
    let mut mismatched = code_request("web", "openid", "st", &challenge);
    set_param(&mut mismatched, "dpop_jkt", &ClientKey::generate().jkt);
    let response = push_with_proof(mismatched, key.proof("POST", &par_url, None, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_dpop_proof"
    );

    let response = push_with_proof(
        code_request("web", "openid", "st", &challenge),
        key.proof("POST", &par_url, None, None),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let pushed: Value = response.json().await.unwrap();
    let page = Browser::new(&base)
        .sign_in_and_approve(&by_reference(
            "web",
            pushed["request_uri"].as_str().unwrap(),
            &[],
        ))
        .await;
    let code = page.redirect_param("code").expect("a code");
    // Without a proof of that key the code is refused; with one it is redeemed, bound.
    let (status, body) = redeem_code(&base, "web", Some(&secret), &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let token_url = format!("{base}/token");
    let response = http
        .post(&token_url)
        .basic_auth("web", Some(&secret))
        .header("DPoP", key.proof("POST", &token_url, None, None))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", APP_REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt
    );
}
