//! Resource-server features: key sets from a configured JWKS URL with rate-limited refresh,
//! and the axum Bearer extractor with RFC 6750 answers.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use ostiary_jwt::bearer::{BearerClaims, BearerError};
use ostiary_jwt::remote::RemoteValidator;
use ostiary_jwt::{
    Algorithm, JwkSet, KeySet, Profile, SigningKey, ValidationError, Validator, encode,
};
use serde_json::json;

const ISS: &str = "https://id.example.com";
const AUD: &str = "https://api.example.com";

#[derive(Clone, Default)]
struct Jwks {
    set: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
}

/// A JWKS endpoint on loopback that counts its fetches.
async fn jwks_server(jwks: Jwks) -> String {
    let app = Router::new()
        .route(
            "/jwks.json",
            get(|State(jwks): State<Jwks>| async move {
                jwks.fetches.fetch_add(1, Ordering::SeqCst);
                axum::Json(jwks.set.lock().unwrap().clone())
            }),
        )
        .with_state(jwks);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/jwks.json")
}

fn claims(now: i64) -> serde_json::Value {
    json!({ "iss": ISS, "sub": "svc", "aud": AUD, "exp": now + 300, "iat": now, "jti": "j",
            "client_id": "svc", "scope": "orders:read" })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rules() -> Validator {
    Validator::new(Profile::AccessToken, ISS, AUD, KeySet::default())
}

#[tokio::test]
async fn unknown_kids_refresh_the_set_at_most_once_per_interval() {
    let first = SigningKey::generate(Algorithm::Es256).unwrap();
    let jwks = Jwks::default();
    jwks.set
        .lock()
        .unwrap()
        .keys
        .push(first.public_jwk().unwrap().clone());
    let url = jwks_server(jwks.clone()).await;
    let validator = RemoteValidator::new(&url, rules()).await.unwrap();
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);
    validator
        .validate(&encode(&first, "at+jwt", &claims(now())).unwrap(), now())
        .await
        .unwrap();

    // A flood of tokens with random kids: no fetch within the minimum interval.
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    for _ in 0..50 {
        let token = encode(&stranger, "at+jwt", &claims(now())).unwrap();
        assert_eq!(
            validator.validate(&token, now()).await,
            Err(ValidationError::UnknownKey)
        );
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);

    // After rotation at the issuer, an unknown kid refreshes once the interval has passed.
    let validator = validator.with_min_refresh_interval(Duration::from_secs(1));
    let second = SigningKey::generate(Algorithm::Es256).unwrap();
    jwks.set
        .lock()
        .unwrap()
        .keys
        .push(second.public_jwk().unwrap().clone());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = encode(&second, "at+jwt", &claims(now())).unwrap();
    validator.validate(&rotated, now()).await.unwrap();
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_jku_in_the_token_is_not_followed_even_on_refresh() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let trap = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let jwks = Jwks::default();
    let url = jwks_server(jwks.clone()).await;
    let validator = RemoteValidator::new(&url, rules())
        .await
        .unwrap()
        .with_min_refresh_interval(Duration::ZERO);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": key.kid(), "jku": trap });
    let input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims(now()).to_string())
    );
    let token = format!(
        "{input}.{}",
        b64.encode(key.sign(input.as_bytes()).unwrap())
    );
    assert_eq!(
        validator.validate(&token, now()).await,
        Err(ValidationError::ForbiddenHeader("jku"))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(listener.accept().is_err(), "the token's jku was contacted");
}

#[tokio::test]
async fn plain_http_jwks_urls_are_refused_off_loopback() {
    for url in [
        "http://id.example.com/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "not a url",
    ] {
        assert!(RemoteValidator::new(url, rules()).await.is_err(), "{url}");
    }
}

async fn orders(token: BearerClaims) -> Result<String, BearerError> {
    token.require_scope("orders:read")?;
    Ok(format!("hello {}", token.0.sub.unwrap_or_default()))
}

async fn admin(token: BearerClaims) -> Result<String, BearerError> {
    token.require_scope("admin")?;
    Ok("admin".into())
}

#[tokio::test]
async fn the_bearer_extractor_answers_per_rfc6750() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let jwks = Jwks::default();
    jwks.set
        .lock()
        .unwrap()
        .keys
        .push(key.public_jwk().unwrap().clone());
    let url = jwks_server(jwks).await;
    let validator = Arc::new(RemoteValidator::new(&url, rules()).await.unwrap());
    let api = Router::new()
        .route("/orders", get(orders))
        .route("/admin", get(admin))
        .with_state(validator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });
    let http = reqwest::Client::new();
    let token = encode(&key, "at+jwt", &claims(now())).unwrap();

    let ok = http
        .get(format!("{base}/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "hello svc");

    let missing = http.get(format!("{base}/orders")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");

    let mut wrong_aud = claims(now());
    wrong_aud["aud"] = json!("https://other.example.com");
    let other = encode(&key, "at+jwt", &wrong_aud).unwrap();
    for bad in [other.as_str(), "garbage"] {
        let response = http
            .get(format!("{base}/orders"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#),
            "{challenge}"
        );
    }
    let basic = http
        .get(format!("{base}/orders"))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    // Another scheme gets the bare challenge naming the accepted one (RFC 6750 3.1).
    assert_eq!(basic.status(), 401);
    assert_eq!(basic.headers()["www-authenticate"], "Bearer");
    // Nothing from the token is reflected into the challenge.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let hostile = format!(
        "{}.e30.AA",
        b64.encode(r#"{"alg":"\u00e9vil\"x","kid":"k"}"#)
    );
    let response = http
        .get(format!("{base}/orders"))
        .bearer_auth(&hostile)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="the signing algorithm is not accepted""#
    );
    // A DPoP-bound token is not accepted as a plain Bearer token (RFC 9449 7.2).
    let mut bound = claims(now());
    bound["cnf"] = json!({ "jkt": "abc" });
    let bound = encode(&key, "at+jwt", &bound).unwrap();
    let response = http
        .get(format!("{base}/orders"))
        .bearer_auth(&bound)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let query = http
        .get(format!("{base}/orders?access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 401, "tokens in the query are not read");
    let forbidden = http
        .get(format!("{base}/admin"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    assert!(
        forbidden.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

#[tokio::test]
async fn oversized_and_redirecting_jwks_responses_are_refused() {
    let app = Router::new()
        .route("/huge", get(|| async { "x".repeat(300 * 1024) }))
        .route(
            "/moved",
            get(|| async { axum::response::Redirect::temporary("/huge") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    for path in ["/huge", "/moved"] {
        let result = RemoteValidator::new(&format!("{base}{path}"), rules()).await;
        assert!(result.is_err(), "{path} accepted");
    }
}
