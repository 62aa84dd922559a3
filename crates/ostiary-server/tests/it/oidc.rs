//! OpenID Connect end to end with the `openidconnect` crate as the relying party: discovery,
//! the real login and consent forms, code exchange with PKCE, ID token and `at_hash`
//! verification, userinfo and refresh; and the userinfo endpoint's refusals.

use crate::support::{
    APP_REDIRECT, Browser, TestApp, USER, USER_EMAIL, add_user, jwt_claims, machine_client, send,
    serve_app, web_client,
};
use axum::http::{Request, StatusCode};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

fn http_client() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        // A relying party never follows redirects from the provider (SSRF).
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The whole code flow driven by `openidconnect`, for a confidential or a public client.
async fn openidconnect_flow(public: bool) {
    let (app, base) = serve_app(&[]).await;
    let user = add_user(&app).await;
    let secret = app.client(web_client("webapp", public)).await;
    assert_eq!(secret.is_none(), public);
    let http = http_client();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("webapp".into()),
        secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(APP_REDIRECT.into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    assert!(auth_url.as_str().starts_with(&format!("{base}/authorize?")));

    // The user: login page, login, consent page, approve.
    let browser = Browser::new(&base);
    let login = browser.get(auth_url.as_str()).await;
    assert_eq!(login.status, reqwest::StatusCode::OK, "{}", login.body);
    assert!(login.is_login_form(), "{}", login.body);
    let consent = browser
        .submit_login(&login, USER, crate::support::USER_PASSWORD)
        .await;
    assert_eq!(consent.status, reqwest::StatusCode::OK, "{}", consent.body);
    assert!(consent.is_consent_form(), "{}", consent.body);
    assert!(browser.has_session_cookie());
    let back = browser.submit_consent(&consent, "approve").await;
    assert_eq!(back.status, reqwest::StatusCode::SEE_OTHER, "{}", back.body);
    let location = back.location().unwrap();
    assert!(
        location.as_str().starts_with(&format!("{APP_REDIRECT}?")),
        "{location}"
    );
    assert_eq!(
        back.redirect_param("state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(back.redirect_param("iss").as_deref(), Some(base.as_str()));
    let code = back.redirect_param("code").expect("code");

    // The relying party: code exchange with the verifier.
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange through openidconnect");
    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("ID token valid per openidconnect");
    assert_eq!(claims.issuer().as_str(), base);
    assert_eq!(claims.subject().as_str(), user.id.to_string());
    assert!(claims.audiences().iter().any(|a| a.as_str() == "webapp"));
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.nonce().map(Nonce::secret), Some(nonce.secret()));
    assert_eq!(
        id_token.signing_alg().unwrap(),
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    );
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual_hash, expected_hash);
    let raw_claims = jwt_claims(&id_token.to_string());
    assert!(raw_claims["sid"].is_string(), "{raw_claims}");
    assert_eq!(raw_claims["azp"], "webapp");

    // The access token is good at the userinfo endpoint.
    let access_claims = jwt_claims(tokens.access_token().secret());
    let audiences: Vec<Value> = match &access_claims["aud"] {
        Value::Array(list) => list.clone(),
        single => vec![single.clone()],
    };
    assert!(
        audiences.contains(&Value::String(format!("{base}/userinfo"))),
        "{access_claims}"
    );
    let scopes: Vec<String> = tokens
        .scopes()
        .expect("scope in the response")
        .iter()
        .map(|s| s.to_string())
        .collect();
    for scope in ["openid", "profile", "email", "offline_access"] {
        assert!(scopes.iter().any(|s| s == scope), "{scopes:?}");
    }

    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo through openidconnect");
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.preferred_username().unwrap().as_str(), USER);
    assert_eq!(info.email().unwrap().as_str(), USER_EMAIL);
    assert_eq!(info.email_verified(), Some(false));

    // Refresh: a new access token and a rotated refresh token.
    let refresh_token = tokens
        .refresh_token()
        .expect("a refresh token with offline_access")
        .clone();
    let refreshed = client
        .exchange_refresh_token(&refresh_token)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh through openidconnect");
    let new_refresh = refreshed.refresh_token().expect("rotated refresh token");
    assert_ne!(new_refresh.secret(), refresh_token.secret());
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );
    if let Some(id_token) = refreshed.id_token() {
        let refreshed_claims = id_token
            .claims(&id_verifier, |_: Option<&Nonce>| Ok(()))
            .expect("refreshed ID token valid");
        assert_eq!(refreshed_claims.subject(), claims.subject());
    }
    // The refreshed access token still reaches userinfo.
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo with the refreshed token");
    assert_eq!(info.subject(), claims.subject());
    // And the rotated one refreshes again.
    client
        .exchange_refresh_token(new_refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("second refresh");
}

#[tokio::test]
async fn openidconnect_crate_confidential_client_end_to_end() {
    openidconnect_flow(false).await;
}

#[tokio::test]
async fn openidconnect_crate_public_client_end_to_end() {
    openidconnect_flow(true).await;
}

#[tokio::test]
async fn userinfo_without_a_token_is_401_with_a_bearer_challenge() {
    let app = TestApp::new().await;
    for method in ["GET", "POST"] {
        let request = Request::builder()
            .method(method)
            .uri("/userinfo")
            .body(axum::body::Body::empty())
            .unwrap();
        let (status, headers, _) = send(&app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
}

#[tokio::test]
async fn userinfo_refuses_a_client_credentials_access_token() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let (status, _, json) = send(
        &app,
        crate::support::form_post(
            "/token",
            "grant_type=client_credentials",
            Some(("svc", &secret)),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let token = json["access_token"].as_str().unwrap();
    let request = Request::get("/userinfo")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, headers, json) = send(&app, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
}
