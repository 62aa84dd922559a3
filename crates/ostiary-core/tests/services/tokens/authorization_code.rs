//! The authorization code grant: single use, bound to its client, redirect URI and PKCE
//! verifier; a replay revokes what the first redemption issued.

use ostiary_core::ErrorCode;
use ostiary_core::client::GrantType;
use ostiary_core::token::{GrantError, Subject, TokenRequest};
use serde_json::json;

use crate::support::{
    API, BILLING, Bench, CODE_LIFETIME, ISSUER, REDIRECT_URI, VERIFIER, claims, refresh_token,
    refused, web_registration,
};

fn invalid_grant(description: &str) -> (ErrorCode, String) {
    (ErrorCode::InvalidGrant, description.to_owned())
}

#[tokio::test]
async fn an_openid_code_yields_access_id_and_refresh_tokens_for_the_user() {
    let bench = Bench::new().await;
    let (code, grant_id) = bench
        .code(
            &bench.web,
            &["openid", "offline_access", "orders:read"],
            &[],
        )
        .await;
    let issued = bench.redeem(&bench.web, &code, &[]).await.unwrap();
    assert_eq!(issued.grant_type, GrantType::AuthorizationCode);
    assert_eq!(issued.subject, Subject::User(bench.user));
    let response = &issued.response;
    assert_eq!(
        response.scope.as_deref(),
        Some("openid offline_access orders:read")
    );
    assert!(response.refresh_token.is_some());
    let access = claims(&response.access_token);
    assert_eq!(access["sub"], bench.user.to_string());
    assert_eq!(access["client_id"], "web");
    // Without `resource`: the registered audiences and, for OpenID Connect, userinfo.
    assert_eq!(
        access["aud"],
        json!([API, BILLING, format!("{ISSUER}/userinfo")])
    );
    let id = claims(response.id_token.as_deref().unwrap());
    assert_eq!(
        (&id["aud"], &id["azp"], &id["nonce"], &id["sid"]),
        (
            &json!("web"),
            &json!("web"),
            &json!("n-0S6"),
            &json!("sid-1")
        )
    );
    let grant = bench.store.find_grant(&grant_id).await.unwrap().unwrap();
    assert!(grant.offline && grant.revoked_at.is_none());
}

#[tokio::test]
async fn openid_without_offline_access_has_no_refresh_token() {
    let bench = Bench::new().await;
    let issued = bench.signed_in(&["openid", "orders:read"]).await;
    assert!(issued.response.id_token.is_some());
    assert!(issued.response.refresh_token.is_none());
}

#[tokio::test]
async fn a_code_redeemed_twice_is_a_replay_that_revokes_the_grant() {
    let bench = Bench::new().await;
    let (code, grant_id) = bench.code(&bench.web, &["orders:read"], &[]).await;
    let first = bench.redeem(&bench.web, &code, &[]).await.unwrap();

    let second = bench.redeem(&bench.web, &code, &[]).await;
    let Err(GrantError::Replayed { user_id, error }) = second else {
        panic!("a replay expected, got {second:?}");
    };
    assert_eq!(user_id, bench.user);
    assert_eq!(
        (error.code(), error.description()),
        (
            ErrorCode::InvalidGrant,
            "the grant was already used; it has been revoked"
        )
    );
    let grant = bench.store.find_grant(&grant_id).await.unwrap().unwrap();
    assert!(grant.revoked_at.is_some());
    // What the first redemption issued went with it.
    let result = bench
        .refresh(&bench.web, &refresh_token(&first), None, &[])
        .await;
    assert_eq!(
        refused(result),
        invalid_grant("the refresh token is invalid, expired or revoked")
    );
}

#[tokio::test]
async fn a_wrong_verifier_is_invalid_grant_and_leaves_the_code_redeemable() {
    let bench = Bench::new().await;
    let (code, _) = bench.code(&bench.web, &["orders:read"], &[]).await;
    let wrong = "x".repeat(43);
    let request = TokenRequest::AuthorizationCode {
        code: &code,
        redirect_uri: Some(REDIRECT_URI),
        code_verifier: Some(&wrong),
        resources: &[],
    };
    let result = bench.tokens.exchange(&bench.web, request, None).await;
    assert!(matches!(result, Err(GrantError::Refused(_))));
    assert_eq!(
        refused(result),
        invalid_grant("the code_verifier does not match the code_challenge")
    );
    // Only the verifier's holder can use, or burn, the code.
    assert!(bench.redeem(&bench.web, &code, &[]).await.is_ok());
}

#[tokio::test]
async fn redirect_uri_and_verifier_are_required_and_must_match() {
    let bench = Bench::new().await;
    let (code, _) = bench.code(&bench.web, &["orders:read"], &[]).await;
    let request = |redirect_uri, code_verifier| TokenRequest::AuthorizationCode {
        code: &code,
        redirect_uri,
        code_verifier,
        resources: &[],
    };
    let cases = [
        (
            request(None, Some(VERIFIER)),
            (ErrorCode::InvalidRequest, "redirect_uri is required"),
        ),
        (
            request(Some(REDIRECT_URI), None),
            (ErrorCode::InvalidRequest, "code_verifier is required"),
        ),
        (
            request(Some("https://app.example.test/other"), Some(VERIFIER)),
            (
                ErrorCode::InvalidGrant,
                "redirect_uri does not match the authorization request",
            ),
        ),
    ];
    for (request, (code, description)) in cases {
        let result = bench.tokens.exchange(&bench.web, request, None).await;
        assert_eq!(refused(result), (code, description.to_owned()));
    }
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let bench = Bench::new().await;
    let (code, _) = bench.code(&bench.web, &["orders:read"], &[]).await;
    bench.clock.advance(CODE_LIFETIME);
    let result = bench.redeem(&bench.web, &code, &[]).await;
    assert_eq!(refused(result), invalid_grant("the code has expired"));
}

#[tokio::test]
async fn a_code_of_another_client_or_an_unknown_code_is_invalid_grant() {
    let bench = Bench::new().await;
    let other = bench.client(web_registration("other")).await;
    let (code, _) = bench.code(&bench.web, &["orders:read"], &[]).await;
    let result = bench.redeem(&other, &code, &[]).await;
    assert_eq!(
        refused(result),
        invalid_grant("the code was issued to another client")
    );
    let result = bench.redeem(&bench.web, "no-such-code", &[]).await;
    assert_eq!(refused(result), invalid_grant("the code is invalid"));
    // The rightful client can still redeem it.
    assert!(bench.redeem(&bench.web, &code, &[]).await.is_ok());
}

#[tokio::test]
async fn a_resource_narrows_the_audience_within_the_authorized_ones() {
    let bench = Bench::new().await;
    let (code, grant_id) = bench
        .code(&bench.web, &["orders:read"], &[API, BILLING])
        .await;
    let issued = bench
        .redeem(&bench.web, &code, &[API.to_owned()])
        .await
        .unwrap();
    assert_eq!(claims(&issued.response.access_token)["aud"], API);
    // The grant keeps everything authorized, for later refreshes.
    let grant = bench.store.find_grant(&grant_id).await.unwrap().unwrap();
    assert_eq!(grant.audiences, [API, BILLING]);

    let (code, _) = bench.code(&bench.web, &["orders:read"], &[API]).await;
    let result = bench.redeem(&bench.web, &code, &[BILLING.to_owned()]).await;
    assert_eq!(
        refused(result),
        (
            ErrorCode::InvalidTarget,
            "the requested resource was not authorized for this grant".to_owned()
        )
    );
}
