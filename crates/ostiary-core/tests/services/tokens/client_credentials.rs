//! The client credentials grant: a token for the client itself, within what it is registered for.

use ostiary_core::ErrorCode;
use ostiary_core::client::GrantType;
use ostiary_core::token::{Subject, TokenRequest};
use serde_json::json;

use crate::support::{API, BILLING, Bench, ISSUER, claims, refused};

fn request<'a>(scope: Option<&'a str>, resources: &'a [String]) -> TokenRequest<'a> {
    TokenRequest::ClientCredentials { scope, resources }
}

#[tokio::test]
async fn a_token_for_the_client_itself_with_every_registered_scope_and_audience() {
    let bench = Bench::new().await;
    let issued = bench
        .tokens
        .exchange(&bench.machine, request(None, &[]), None)
        .await
        .unwrap();
    assert_eq!(issued.grant_type, GrantType::ClientCredentials);
    assert_eq!(issued.subject, Subject::Client(bench.machine.id.clone()));
    // As the audit trail records it.
    assert_eq!(issued.subject.to_string(), "machine");
    let response = &issued.response;
    assert_eq!(response.token_type, "Bearer");
    assert_eq!(response.expires_in, 300);
    assert_eq!(response.scope.as_deref(), Some("orders:read orders:write"));
    assert!(response.refresh_token.is_none() && response.id_token.is_none());
    let claims = claims(&response.access_token);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "machine");
    assert_eq!(claims["client_id"], "machine");
    assert_eq!(claims["aud"], json!([API, BILLING]));
    assert_eq!(claims["scope"], "orders:read orders:write");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    // No sender constraint and no actor unless a grant sets them.
    assert!(claims.get("cnf").is_none() && claims.get("act").is_none());
}

#[tokio::test]
async fn a_scope_the_client_lacks_is_invalid_scope() {
    let bench = Bench::new().await;
    let result = bench
        .tokens
        .exchange(
            &bench.machine,
            request(Some("orders:read admin"), &[]),
            None,
        )
        .await;
    assert_eq!(
        refused(result),
        (
            ErrorCode::InvalidScope,
            "a requested scope is not allowed for this client".to_owned()
        )
    );
}

#[tokio::test]
async fn a_narrower_scope_and_one_resource_are_granted_exactly() {
    let bench = Bench::new().await;
    let resources = [BILLING.to_owned()];
    let issued = bench
        .tokens
        .exchange(
            &bench.machine,
            request(Some("orders:read"), &resources),
            None,
        )
        .await
        .unwrap();
    assert_eq!(issued.response.scope.as_deref(), Some("orders:read"));
    let claims = claims(&issued.response.access_token);
    // One audience is a string, not an array (RFC 7519 4.1.3).
    assert_eq!(claims["aud"], BILLING);
    assert_eq!(claims["scope"], "orders:read");
}

#[tokio::test]
async fn an_unregistered_resource_is_invalid_target() {
    let bench = Bench::new().await;
    let resources = [API.to_owned(), "https://elsewhere.example.test".to_owned()];
    let result = bench
        .tokens
        .exchange(&bench.machine, request(None, &resources), None)
        .await;
    assert_eq!(
        refused(result),
        (
            ErrorCode::InvalidTarget,
            "the requested resource is not registered for this client".to_owned()
        )
    );
}

#[tokio::test]
async fn a_client_not_registered_for_the_grant_is_unauthorized() {
    let bench = Bench::new().await;
    let result = bench
        .tokens
        .exchange(&bench.web, request(None, &[]), None)
        .await;
    assert_eq!(
        refused(result),
        (
            ErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant".to_owned()
        )
    );
}
