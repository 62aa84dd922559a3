//! The refresh token grant: rotation on every use, the grace period for a lost response,
//! family revocation on replay, and scope and audience that only narrow.

use ostiary_core::ErrorCode;
use ostiary_core::client::GrantType;
use ostiary_core::token::{GrantError, Subject};
use serde_json::json;
use time::Duration;

use crate::support::{
    API, BILLING, Bench, REFRESH_GRACE, claims, refresh_token, refused, web_registration,
};

const INVALID: &str = "the refresh token is invalid, expired or revoked";

fn invalid_grant(description: &str) -> (ErrorCode, String) {
    (ErrorCode::InvalidGrant, description.to_owned())
}

#[tokio::test]
async fn a_refresh_rotates_the_token_and_keeps_the_grant() {
    let bench = Bench::new().await;
    let first = bench.signed_in(&["orders:read", "orders:write"]).await;
    let old = refresh_token(&first);
    let refreshed = bench.refresh(&bench.web, &old, None, &[]).await.unwrap();
    assert_eq!(refreshed.grant_type, GrantType::RefreshToken);
    assert_eq!(refreshed.subject, Subject::User(bench.user));
    assert_eq!(refreshed.subject.to_string(), bench.user.to_string());
    let new = refresh_token(&refreshed);
    assert_ne!(new, old);
    assert_ne!(refreshed.response.access_token, first.response.access_token);
    assert_eq!(
        refreshed.response.scope.as_deref(),
        Some("orders:read orders:write")
    );
    // The new token works in turn.
    assert!(bench.refresh(&bench.web, &new, None, &[]).await.is_ok());
}

#[tokio::test]
async fn a_retry_inside_the_grace_period_gets_the_same_answer() {
    let bench = Bench::new().await;
    let old = refresh_token(&bench.signed_in(&["orders:read"]).await);
    let refreshed = bench.refresh(&bench.web, &old, None, &[]).await.unwrap();
    bench.clock.advance(REFRESH_GRACE);
    let retried = bench.refresh(&bench.web, &old, None, &[]).await.unwrap();
    assert_eq!(
        retried.response.access_token,
        refreshed.response.access_token
    );
    assert_eq!(
        retried.response.refresh_token,
        refreshed.response.refresh_token
    );
    // The family is intact.
    let new = refresh_token(&refreshed);
    assert!(bench.refresh(&bench.web, &new, None, &[]).await.is_ok());
}

#[tokio::test]
async fn a_rotated_token_replayed_after_the_grace_period_revokes_the_family() {
    let bench = Bench::new().await;
    let (code, grant_id) = bench.code(&bench.web, &["orders:read"], &[]).await;
    let first = bench.redeem(&bench.web, &code, &[]).await.unwrap();
    let old = refresh_token(&first);
    let new = refresh_token(&bench.refresh(&bench.web, &old, None, &[]).await.unwrap());

    bench.clock.advance(REFRESH_GRACE + Duration::seconds(1));
    let replay = bench.refresh(&bench.web, &old, None, &[]).await;
    let Err(GrantError::Replayed { user_id, error }) = replay else {
        panic!("a replay expected, got {replay:?}");
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
    // The newest token of the family is dead too.
    let result = bench.refresh(&bench.web, &new, None, &[]).await;
    assert_eq!(refused(result), invalid_grant(INVALID));
}

#[tokio::test]
async fn a_narrower_scope_is_granted_and_a_wider_one_refused() {
    let bench = Bench::new().await;
    let token = refresh_token(&bench.signed_in(&["orders:read"]).await);
    // Wider than granted (though registered for the client): refused, nothing rotated.
    let result = bench
        .refresh(&bench.web, &token, Some("orders:read orders:write"), &[])
        .await;
    assert_eq!(
        refused(result),
        (
            ErrorCode::InvalidScope,
            "a requested scope is not allowed for this client".to_owned()
        )
    );

    let bench = Bench::new().await;
    let token = refresh_token(&bench.signed_in(&["orders:read", "orders:write"]).await);
    let narrowed = bench
        .refresh(&bench.web, &token, Some("orders:read"), &[])
        .await
        .unwrap();
    assert_eq!(narrowed.response.scope.as_deref(), Some("orders:read"));
    assert_eq!(
        claims(&narrowed.response.access_token)["scope"],
        "orders:read"
    );
    // Narrowing one access token leaves the grant as it was.
    let next = bench
        .refresh(&bench.web, &refresh_token(&narrowed), None, &[])
        .await
        .unwrap();
    assert_eq!(
        next.response.scope.as_deref(),
        Some("orders:read orders:write")
    );
}

#[tokio::test]
async fn a_resource_narrows_the_audience_and_an_unauthorized_one_is_refused() {
    let bench = Bench::new().await;
    let token = refresh_token(&bench.signed_in(&["orders:read"]).await);
    let refreshed = bench
        .refresh(&bench.web, &token, None, &[BILLING.to_owned()])
        .await
        .unwrap();
    assert_eq!(claims(&refreshed.response.access_token)["aud"], BILLING);
    let token = refresh_token(&refreshed);
    let result = bench
        .refresh(
            &bench.web,
            &token,
            None,
            &["https://elsewhere.example.test".to_owned()],
        )
        .await;
    assert_eq!(
        refused(result),
        (
            ErrorCode::InvalidTarget,
            "the requested resource was not authorized for this grant".to_owned()
        )
    );
    let refreshed = bench.refresh(&bench.web, &token, None, &[]).await.unwrap();
    assert_eq!(
        claims(&refreshed.response.access_token)["aud"],
        json!([API, BILLING])
    );
}

#[tokio::test]
async fn another_clients_expired_or_unknown_token_is_invalid_grant() {
    let bench = Bench::new().await;
    let other = bench.client(web_registration("other")).await;
    let token = refresh_token(&bench.signed_in(&["orders:read"]).await);
    let result = bench.refresh(&other, &token, None, &[]).await;
    assert_eq!(
        refused(result),
        invalid_grant("the refresh token was issued to another client")
    );
    let result = bench.refresh(&bench.web, "no-such-token", None, &[]).await;
    assert_eq!(refused(result), invalid_grant(INVALID));
    bench.clock.advance(Duration::days(1));
    let result = bench.refresh(&bench.web, &token, None, &[]).await;
    assert_eq!(refused(result), invalid_grant(INVALID));
}

#[tokio::test]
async fn a_disabled_user_gets_no_new_tokens() {
    let bench = Bench::new().await;
    let token = refresh_token(&bench.signed_in(&["orders:read"]).await);
    assert!(
        bench
            .store
            .set_user_disabled(&bench.user, true)
            .await
            .unwrap()
    );
    let result = bench.refresh(&bench.web, &token, None, &[]).await;
    assert_eq!(
        refused(result),
        invalid_grant("the user is disabled or gone")
    );
}
