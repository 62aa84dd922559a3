//! Ostiary driven by third-party crates: the `oauth2` crate as the client, `jsonwebtoken`
//! validating the token against the served JWKS.

use crate::support::{ISSUER, TestApp, machine_client};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};

#[tokio::test]
async fn oauth2_crate_gets_a_token_that_jsonwebtoken_validates_against_the_jwks() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let base = app.listen().await;

    let client = BasicClient::new(ClientId::new("svc".into()))
        .set_client_secret(ClientSecret::new(secret))
        .set_auth_uri(AuthUrl::new(format!("{base}/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap());
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request_async(&http)
        .await
        .expect("client_credentials through the oauth2 crate");
    let access_token = response.access_token().secret().clone();
    assert_eq!(response.expires_in().unwrap().as_secs(), 900);

    let jwks: JwkSet = reqwest::get(format!("{base}/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = decode_header(&access_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.clone().unwrap();
    let jwk = jwks.find(&kid).expect("signing key published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["https://api.example.com"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let token = decode::<serde_json::Value>(&access_token, &key, &validation)
        .expect("valid per jsonwebtoken");
    assert_eq!(token.claims["client_id"], "svc");
    assert_eq!(token.claims["scope"], "read");

    let mut wrong_audience = validation.clone();
    wrong_audience.set_audience(&["https://other.example.com"]);
    assert!(decode::<serde_json::Value>(&access_token, &key, &wrong_audience).is_err());
}

#[tokio::test]
async fn oauth2_crate_sees_invalid_client_for_a_wrong_secret() {
    let app = TestApp::new().await;
    app.client(machine_client("svc")).await.unwrap();
    let base = app.listen().await;
    let client = BasicClient::new(ClientId::new("svc".into()))
        .set_client_secret(ClientSecret::new("wrong".into()))
        .set_auth_uri(AuthUrl::new(format!("{base}/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap());
    let http = oauth2::reqwest::Client::new();
    let err = client
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap_err();
    match err {
        oauth2::RequestTokenError::ServerResponse(response) => {
            assert_eq!(
                response.error(),
                &oauth2::basic::BasicErrorResponseType::InvalidClient
            );
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }
}
