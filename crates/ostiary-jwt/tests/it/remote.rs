//! Resource-server features: key sets from a configured JWKS URL with rate-limited refresh,
//! and the axum extractor with RFC 6750 answers, and RFC 9449 (DPoP) ones when configured;
//! RFC 9728 protected resource metadata and the challenges naming it.
//! DPoP proofs here are made by a third-party JOSE library, `jsonwebtoken`.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use ostiary_jwt::bearer::{BearerClaims, BearerError, Refusal};
use ostiary_jwt::protected_resource::{
    MetadataError, ProtectedResourceMetadata, WELL_KNOWN_PATH, metadata_location,
};
use ostiary_jwt::remote::{DpopConfig, RemoteValidator};
use ostiary_jwt::{
    Algorithm, JwkSet, KeySet, Profile, SigningKey, ValidationError, Validator, encode,
};
use serde_json::{Value, json};

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

// --- DPoP (RFC 9449) at the resource ---

/// The origin clients address the API by (through a proxy, say); it listens on loopback.
const ORIGIN: &str = "https://api.example.com";
const ALL_ALGS: &str = r#"algs="ES256 RS256 EdDSA Ed25519""#;

async fn whoami(token: BearerClaims) -> Result<String, BearerError> {
    token.require_scope("orders:read")?;
    Ok(format!(
        "{} {}",
        token.0.sub.as_deref().unwrap_or_default(),
        token.dpop_jkt().unwrap_or("bearer")
    ))
}

/// An API on loopback whose public origin is [`ORIGIN`], DPoP configured as given; routes
/// `/orders` (GET and POST) and `/admin`, also nested under `/v1`.
struct Api {
    base: String,
    key: SigningKey,
    http: reqwest::Client,
}

async fn start_api(dpop: Option<DpopConfig>) -> Api {
    start_api_with(dpop, None).await
}

/// [`start_api`], also publishing `metadata` (its route merged, its URL in the challenges).
async fn start_api_with(
    dpop: Option<DpopConfig>,
    metadata: Option<ProtectedResourceMetadata>,
) -> Api {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let jwks = Jwks::default();
    jwks.set
        .lock()
        .unwrap()
        .keys
        .push(key.public_jwk().unwrap().clone());
    let url = jwks_server(jwks).await;
    let mut validator = RemoteValidator::new(&url, rules()).await.unwrap();
    if let Some(dpop) = dpop {
        validator = validator.with_dpop(dpop);
    }
    let routes = Router::new()
        .route("/orders", get(whoami).post(whoami))
        .route("/admin", get(admin));
    let mut app = routes.clone().nest("/v1", routes);
    if let Some(metadata) = metadata {
        validator = validator.with_resource_metadata(&metadata);
        app = app.merge(metadata.router());
    }
    let app = app.with_state(Arc::new(validator));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Api {
        base,
        key,
        http: reqwest::Client::new(),
    }
}

async fn dpop_api() -> Api {
    start_api(Some(DpopConfig::new(ORIGIN).unwrap())).await
}

impl Api {
    /// An access token from the issuer, bound to the key of thumbprint `jkt` if given.
    fn token(&self, jkt: Option<&str>) -> String {
        let mut claims = claims(now());
        if let Some(jkt) = jkt {
            claims["cnf"] = json!({ "jkt": jkt });
        }
        encode(&self.key, "at+jwt", &claims).unwrap()
    }

    /// `GET path` under the DPoP scheme with the given proof headers.
    fn dpop_get(&self, path: &str, token: &str, proofs: &[&str]) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("DPoP {token}"));
        for proof in proofs {
            request = request.header("dpop", *proof);
        }
        request
    }
}

/// A client's DPoP key, held and used by `jsonwebtoken`.
struct ProofKey {
    encoding: jsonwebtoken::EncodingKey,
    jwk: jsonwebtoken::jwk::Jwk,
    /// The RFC 7638 thumbprint as `jsonwebtoken` computes it.
    jkt: String,
}

impl ProofKey {
    fn generate() -> Self {
        let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let encoding = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
        let jwk =
            jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, jsonwebtoken::Algorithm::ES256)
                .unwrap();
        let jkt = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256);
        Self { encoding, jwk, jkt }
    }

    /// A fresh proof for `method` on `htu`, bound to `token` by `ath` (RFC 9449 4.2).
    fn proof(&self, method: &str, htu: &str, token: &str) -> String {
        self.sign(&proof_claims(method, htu, Some(token)))
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn proof_claims(method: &str, htu: &str, token: Option<&str>) -> Value {
    static JTI: AtomicUsize = AtomicUsize::new(0);
    let mut claims = json!({
        "jti": format!("proof-{}", JTI.fetch_add(1, Ordering::SeqCst)),
        "htm": method,
        "htu": htu,
        "iat": now(),
    });
    if let Some(token) = token {
        use base64::Engine;
        claims["ath"] = json!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(digest(&SHA256, token.as_bytes()))
        );
    }
    claims
}

fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The two challenges of a refused DPoP request: the error first, then Bearer advertised.
fn dpop_refusal(error: &str, description: &str) -> Vec<String> {
    vec![
        format!(r#"DPoP error="{error}", error_description="{description}", {ALL_ALGS}"#),
        "Bearer".to_owned(),
    ]
}

#[tokio::test]
async fn a_dpop_request_with_a_bound_token_passes_and_exposes_the_key_thumbprint() {
    let api = dpop_api().await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));

    let proof = client.proof("GET", &format!("{ORIGIN}/orders"), &token);
    let response = api
        .dpop_get("/orders", &token, &[&proof])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(challenges(&response).is_empty());
    // The thumbprint our side exposes is the one jsonwebtoken computes for its own key.
    assert_eq!(
        response.text().await.unwrap(),
        format!("svc {}", client.jkt)
    );

    // htu has no query (RFC 9449 4.3), and a nested router still sees the full path.
    for (path, htu) in [
        ("/orders?page=2", format!("{ORIGIN}/orders")),
        ("/v1/orders", format!("{ORIGIN}/v1/orders")),
    ] {
        let proof = client.proof("GET", &htu, &token);
        let response = api.dpop_get(path, &token, &[&proof]).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(challenges(&response).is_empty());
    }
    let proof = client.proof("POST", &format!("{ORIGIN}/orders"), &token);
    let response = api
        .http
        .post(format!("{}/orders", api.base))
        .header("authorization", format!("dpop {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the scheme name is case-insensitive"
    );

    // A scope the token lacks is challenged under the scheme it came with.
    let proof = client.proof("GET", &format!("{ORIGIN}/admin"), &token);
    let response = api
        .dpop_get("/admin", &token, &[&proof])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        challenges(&response),
        [r#"DPoP error="insufficient_scope", scope="admin""#]
    );

    // Unbound tokens go on working as Bearer tokens beside DPoP.
    let response = api
        .http
        .get(format!("{}/orders", api.base))
        .bearer_auth(api.token(None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(challenges(&response).is_empty());
    assert_eq!(response.text().await.unwrap(), "svc bearer");
}

#[tokio::test]
async fn a_replayed_dpop_proof_is_refused() {
    let api = dpop_api().await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    let proof = client.proof("GET", &format!("{ORIGIN}/orders"), &token);
    let first = api
        .dpop_get("/orders", &token, &[&proof])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let replay = api
        .dpop_get("/orders", &token, &[&proof])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    assert_eq!(
        challenges(&replay),
        dpop_refusal("invalid_dpop_proof", "the DPoP proof was already used")
    );
}

#[tokio::test]
async fn a_full_replay_cache_answers_503_and_still_refuses_replays() {
    let api = start_api(Some(
        DpopConfig::new(ORIGIN).unwrap().with_replay_capacity(1),
    ))
    .await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    let htu = format!("{ORIGIN}/orders");
    let first = client.proof("GET", &htu, &token);
    let response = api
        .dpop_get("/orders", &token, &[&first])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The cache is full of a live record: a new proof waits rather than evict it.
    let second = client.proof("GET", &htu, &token);
    let response = api
        .dpop_get("/orders", &token, &[&second])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(challenges(&response).is_empty());
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=121).contains(&retry), "{retry}");

    let replay = api
        .dpop_get("/orders", &token, &[&first])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    assert_eq!(
        challenges(&replay),
        dpop_refusal("invalid_dpop_proof", "the DPoP proof was already used")
    );
}

#[tokio::test]
async fn a_dpop_proof_for_another_method_or_uri_is_refused() {
    let api = dpop_api().await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    let listening = format!("{}/orders", api.base);
    for (method, htu, host) in [
        ("POST", format!("{ORIGIN}/orders"), None),
        ("GET", format!("{ORIGIN}/admin"), None),
        ("GET", "https://other.example.com/orders".to_owned(), None),
        // The address the request reached, which a Host-derived htu would accept.
        ("GET", listening.clone(), None),
        // A Host header naming the proof's origin changes nothing: htu is built from the
        // configured origin.
        (
            "GET",
            "https://evil.example.com/orders".to_owned(),
            Some("evil.example.com"),
        ),
    ] {
        let proof = client.proof(method, &htu, &token);
        let mut request = api.dpop_get("/orders", &token, &[&proof]);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{method} {htu}");
        assert_eq!(
            challenges(&response),
            dpop_refusal(
                "invalid_dpop_proof",
                "the DPoP proof is for another request"
            ),
            "{method} {htu}"
        );
    }
}

#[tokio::test]
async fn a_stale_dpop_proof_or_one_under_an_algorithm_not_configured_is_refused() {
    let api = dpop_api().await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    let mut stale = proof_claims("GET", &format!("{ORIGIN}/orders"), Some(&token));
    stale["iat"] = json!(now() - 600);
    let response = api
        .dpop_get("/orders", &token, &[&client.sign(&stale)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenges(&response),
        dpop_refusal("invalid_dpop_proof", "the DPoP proof is not fresh")
    );

    let eddsa_only = start_api(Some(
        DpopConfig::new(ORIGIN)
            .unwrap()
            .allow_only(&[Algorithm::EdDsa]),
    ))
    .await;
    let token = eddsa_only.token(Some(&client.jkt));
    let proof = client.proof("GET", &format!("{ORIGIN}/orders"), &token);
    let response = eddsa_only
        .dpop_get("/orders", &token, &[&proof])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenges(&response),
        [
            r#"DPoP error="invalid_dpop_proof", error_description="the DPoP proof algorithm is not accepted", algs="EdDSA Ed25519""#,
            "Bearer"
        ]
    );
}

#[tokio::test]
async fn a_dpop_proof_for_another_access_token_is_refused() {
    let api = dpop_api().await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    let other = api.token(Some(&client.jkt));
    assert_ne!(token, other);
    let htu = format!("{ORIGIN}/orders");
    // A proof made for another token of the same key, and one without `ath` at all.
    for proof in [
        client.proof("GET", &htu, &other),
        client.sign(&proof_claims("GET", &htu, None)),
    ] {
        let response = api
            .dpop_get("/orders", &token, &[&proof])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            challenges(&response),
            dpop_refusal(
                "invalid_dpop_proof",
                "the DPoP proof is for another access token"
            )
        );
    }
}

#[tokio::test]
async fn a_dpop_proof_made_with_another_key_than_the_tokens_is_refused() {
    let api = dpop_api().await;
    let owner = ProofKey::generate();
    let thief = ProofKey::generate();
    let token = api.token(Some(&owner.jkt));
    // A valid proof, `ath` included, by someone holding the token but not its key.
    let proof = thief.proof("GET", &format!("{ORIGIN}/orders"), &token);
    let response = api
        .dpop_get("/orders", &token, &[&proof])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenges(&response),
        dpop_refusal(
            "invalid_token",
            "the token is bound to another key than the proof's"
        )
    );
}

#[tokio::test]
async fn a_bound_token_presented_as_bearer_gets_a_dpop_challenge() {
    let api = dpop_api().await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    // Even with a valid proof beside it: the Bearer scheme does not look at proofs.
    let proof = client.proof("GET", &format!("{ORIGIN}/orders"), &token);
    let response = api
        .http
        .get(format!("{}/orders", api.base))
        .bearer_auth(&token)
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenges(&response),
        dpop_refusal(
            "invalid_token",
            "the token is bound to a key: present it with the DPoP scheme and a proof"
        )
    );
}

#[tokio::test]
async fn an_unbound_token_under_the_dpop_scheme_is_refused() {
    let api = dpop_api().await;
    let client = ProofKey::generate();
    let token = api.token(None);
    let proof = client.proof("GET", &format!("{ORIGIN}/orders"), &token);
    let response = api
        .dpop_get("/orders", &token, &[&proof])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenges(&response),
        dpop_refusal(
            "invalid_token",
            "the token is not bound to a key: present it with the Bearer scheme"
        )
    );
}

#[tokio::test]
async fn a_dpop_request_without_a_proof_header_is_refused() {
    let api = dpop_api().await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    let response = api.dpop_get("/orders", &token, &[]).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenges(&response),
        dpop_refusal(
            "invalid_dpop_proof",
            "exactly one DPoP proof header is required"
        )
    );
}

#[tokio::test]
async fn a_dpop_request_with_two_proof_headers_is_refused() {
    let api = dpop_api().await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    let htu = format!("{ORIGIN}/orders");
    let (one, two) = (
        client.proof("GET", &htu, &token),
        client.proof("GET", &htu, &token),
    );
    let response = api
        .dpop_get("/orders", &token, &[&one, &two])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenges(&response),
        dpop_refusal(
            "invalid_dpop_proof",
            "exactly one DPoP proof header is required"
        )
    );
    // Neither proof was checked, so neither was used up.
    let response = api
        .dpop_get("/orders", &token, &[&one])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn with_dpop_configured_challenges_advertise_both_schemes() {
    let api = dpop_api().await;
    let both = vec!["Bearer".to_owned(), format!("DPoP {ALL_ALGS}")];
    let missing = api
        .http
        .get(format!("{}/orders", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(challenges(&missing), both);
    let basic = api
        .http
        .get(format!("{}/orders", api.base))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(challenges(&basic), both);

    let invalid = api
        .http
        .get(format!("{}/orders", api.base))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 401);
    assert_eq!(
        challenges(&invalid),
        [
            r#"Bearer error="invalid_token", error_description="the token is malformed""#
                .to_owned(),
            format!("DPoP {ALL_ALGS}"),
        ]
    );
    let invalid = api
        .dpop_get("/orders", "garbage", &["x"])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 401);
    assert_eq!(
        challenges(&invalid),
        dpop_refusal("invalid_token", "the token is malformed")
    );

    let empty = api
        .http
        .get(format!("{}/orders", api.base))
        .header("authorization", "DPoP ")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    assert_eq!(
        challenges(&empty),
        [
            format!(r#"DPoP error="invalid_request", {ALL_ALGS}"#),
            "Bearer".to_owned()
        ]
    );
}

#[tokio::test]
async fn without_dpop_configured_the_dpop_scheme_gets_the_bearer_challenge() {
    let api = start_api(None).await;
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    let proof = client.proof("GET", &format!("{ORIGIN}/orders"), &token);
    let response = api
        .dpop_get("/orders", &token, &[&proof])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(challenges(&response), ["Bearer"]);
    // As before DPoP existed: a bound token as Bearer is refused under the Bearer scheme.
    let response = api
        .http
        .get(format!("{}/orders", api.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer error="invalid_token", error_description="the token is bound to a proof-of-possession key""#
        ]
    );
}

// --- Protected resource metadata (RFC 9728) ---

/// The API's resource identifier, with a path as an MCP server's has, and its metadata URL.
const RESOURCE: &str = "https://api.example.com/mcp";
const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource/mcp";

fn metadata() -> ProtectedResourceMetadata {
    ProtectedResourceMetadata::new(RESOURCE)
        .unwrap()
        .with_authorization_server(ISS)
        .unwrap()
        .with_scopes_supported(["orders:read", "admin"])
        .unwrap()
}

/// The auth-param every challenge ends with when the metadata is configured.
fn named() -> String {
    format!(r#"resource_metadata="{METADATA_URL}""#)
}

#[test]
fn the_metadata_url_inserts_the_well_known_path_between_host_and_path() {
    let root = "/.well-known/oauth-protected-resource";
    for (resource, url, path) in [
        (
            "https://api.example.com",
            "https://api.example.com/.well-known/oauth-protected-resource",
            root,
        ),
        (
            "https://api.example.com/",
            "https://api.example.com/.well-known/oauth-protected-resource",
            root,
        ),
        (
            "https://api.example.com/mcp",
            METADATA_URL,
            "/.well-known/oauth-protected-resource/mcp",
        ),
        // The terminating slash is removed before the insertion (RFC 9728 3.1).
        (
            "https://api.example.com/mcp/",
            METADATA_URL,
            "/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "https://api.example.com/v1/orders",
            "https://api.example.com/.well-known/oauth-protected-resource/v1/orders",
            "/.well-known/oauth-protected-resource/v1/orders",
        ),
        (
            "https://api.example.com:8443/mcp",
            "https://api.example.com:8443/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/.well-known/oauth-protected-resource",
            root,
        ),
        (
            "http://[::1]:3000/v1",
            "http://[::1]:3000/.well-known/oauth-protected-resource/v1",
            "/.well-known/oauth-protected-resource/v1",
        ),
        (
            "https://api.example.com/caf%C3%A9",
            "https://api.example.com/.well-known/oauth-protected-resource/caf%C3%A9",
            "/.well-known/oauth-protected-resource/caf%C3%A9",
        ),
    ] {
        let location = metadata_location(resource).unwrap();
        assert_eq!(location.url(), url, "{resource}");
        assert_eq!(location.path(), path, "{resource}");
        // It goes into a quoted-string as is.
        assert!(
            location
                .url()
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'),
            "{url}"
        );
        // The document derives the same location and keeps the identifier as given.
        let metadata = ProtectedResourceMetadata::new(resource).unwrap();
        assert_eq!(metadata.resource(), resource);
        assert_eq!(metadata.location(), &location);
    }
    assert_eq!(WELL_KNOWN_PATH, root);
}

#[test]
fn resource_identifiers_with_a_query_a_fragment_or_another_scheme_are_refused() {
    for bad in [
        "https://api.example.com/mcp?tenant=1",
        "https://api.example.com/?",
        "https://api.example.com/mcp#top",
        "https://api.example.com#",
        "https://user:pw@api.example.com/mcp",
        "ftp://api.example.com/mcp",
        "urn:example:api",
        "file:///srv/api",
        "api.example.com/mcp",
        "/mcp",
        "",
        // Segments axum would take for captures: the document could not be routed.
        "https://api.example.com/:id",
        "https://api.example.com/v1/*rest",
    ] {
        let refused = MetadataError::Resource(bad.to_owned());
        assert_eq!(metadata_location(bad), Err(refused.clone()), "{bad}");
        assert_eq!(ProtectedResourceMetadata::new(bad), Err(refused), "{bad}");
    }
    // Valid URLs that the URL standard writes otherwise: published in one spelling, they would
    // be compared in another.
    for (given, normal) in [
        ("https://API.example.com/mcp", "https://api.example.com/mcp"),
        (
            "https://api.example.com:443/mcp",
            "https://api.example.com/mcp",
        ),
        (
            "https://api.example.com/a/../mcp",
            "https://api.example.com/mcp",
        ),
        (
            " https://api.example.com/mcp",
            "https://api.example.com/mcp",
        ),
        (
            "https://api.example.com/caf\u{e9}",
            "https://api.example.com/caf%C3%A9",
        ),
    ] {
        assert_eq!(
            metadata_location(given),
            Err(MetadataError::ResourceNotNormal {
                given: given.to_owned(),
                normal: normal.to_owned()
            }),
            "{given}"
        );
    }
}

#[test]
fn the_metadata_document_lists_what_is_configured_and_omits_the_rest() {
    let minimal = ProtectedResourceMetadata::new("https://api.example.com").unwrap();
    assert_eq!(
        serde_json::to_value(&minimal).unwrap(),
        json!({ "resource": "https://api.example.com", "bearer_methods_supported": ["header"] })
    );

    let full = metadata()
        // Repeats are ignored.
        .with_authorization_server(ISS)
        .unwrap()
        .with_authorization_server("https://id.example.com/tenant-2")
        .unwrap()
        .with_scopes_supported(["orders:read".to_owned()])
        .unwrap()
        .with_jwks_uri("https://api.example.com/jwks.json")
        .unwrap()
        .with_resource_name("Orders API")
        .with_resource_documentation("https://docs.example.com/orders?lang=en")
        .unwrap()
        .with_resource_signing_alg_values_supported(&[Algorithm::Es256])
        .with_dpop(
            &DpopConfig::new("https://api.example.com")
                .unwrap()
                .allow_only(&[Algorithm::EdDsa, Algorithm::Es256]),
        );
    assert_eq!(
        serde_json::to_value(&full).unwrap(),
        json!({
            "resource": RESOURCE,
            "authorization_servers": [ISS, "https://id.example.com/tenant-2"],
            "jwks_uri": "https://api.example.com/jwks.json",
            "scopes_supported": ["orders:read", "admin"],
            "bearer_methods_supported": ["header"],
            "resource_signing_alg_values_supported": ["ES256"],
            "resource_name": "Orders API",
            "resource_documentation": "https://docs.example.com/orders?lang=en",
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "Ed25519"],
            "dpop_bound_access_tokens_required": false,
        })
    );
    let text = serde_json::to_string(&full).unwrap();
    assert!(
        text.starts_with(r#"{"resource":"https://api.example.com/mcp","#),
        "{text}"
    );
}

#[test]
fn invalid_authorization_servers_urls_and_scopes_are_refused() {
    for bad in [
        "https://id.example.com?tenant=1",
        "https://id.example.com/#",
        "id.example.com",
        "ftp://id.example.com",
        " https://id.example.com",
        "https://id.example.com/\tx",
        "https://u:p@id.example.com",
    ] {
        assert_eq!(
            metadata().with_authorization_server(bad),
            Err(MetadataError::Url {
                field: "authorization_servers",
                value: bad.to_owned()
            }),
            "{bad}"
        );
    }
    assert_eq!(
        metadata().with_jwks_uri("https://api.example.com/jwks.json#k"),
        Err(MetadataError::Url {
            field: "jwks_uri",
            value: "https://api.example.com/jwks.json#k".to_owned()
        })
    );
    assert_eq!(
        metadata().with_resource_documentation("javascript:alert(1)"),
        Err(MetadataError::Url {
            field: "resource_documentation",
            value: "javascript:alert(1)".to_owned()
        })
    );
    for bad in ["", "orders read", "a\"b", "a\\b", "caf\u{e9}"] {
        assert_eq!(
            metadata().with_scopes_supported([bad]),
            Err(MetadataError::Scope(bad.to_owned())),
            "{bad:?}"
        );
    }
    // The positive twins: an issuer with a path, a jwks_uri with a query.
    let fine = metadata()
        .with_authorization_server("http://127.0.0.1:8080/realms/a")
        .unwrap()
        .with_jwks_uri("https://api.example.com/jwks.json?v=2")
        .unwrap();
    assert_eq!(
        serde_json::to_value(&fine).unwrap()["authorization_servers"],
        json!([ISS, "http://127.0.0.1:8080/realms/a"])
    );
}

#[tokio::test]
async fn the_metadata_document_is_served_as_json_at_its_well_known_path() {
    let api = start_api_with(None, Some(metadata())).await;
    let url = format!("{}/.well-known/oauth-protected-resource/mcp", api.base);
    let response = api.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "resource": RESOURCE,
            "authorization_servers": [ISS],
            "scopes_supported": ["orders:read", "admin"],
            "bearer_methods_supported": ["header"],
        })
    );
    // GET only; and the origin's bare well-known path would be another resource's document.
    let post = api.http.post(&url).send().await.unwrap();
    assert_eq!(post.status(), 405);
    let bare = api
        .http
        .get(format!("{}{WELL_KNOWN_PATH}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 404);
}

#[tokio::test]
async fn with_resource_metadata_every_bearer_401_names_the_metadata_url() {
    let api = start_api_with(None, Some(metadata())).await;
    let orders = format!("{}/orders", api.base);
    let named = named();

    let missing = api.http.get(&orders).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(challenges(&missing), [format!("Bearer {named}")]);
    let basic = api
        .http
        .get(&orders)
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(challenges(&basic), [format!("Bearer {named}")]);

    let mut expired = claims(now() - 3600);
    expired["exp"] = json!(now() - 3000);
    let expired = encode(&api.key, "at+jwt", &expired).unwrap();
    for (token, description) in [
        ("garbage", "the token is malformed"),
        (expired.as_str(), "the token has expired"),
    ] {
        let response = api
            .http
            .get(&orders)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            challenges(&response),
            [format!(
                r#"Bearer error="invalid_token", error_description="{description}", {named}"#
            )]
        );
    }
    let empty = api
        .http
        .get(&orders)
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    assert_eq!(
        challenges(&empty),
        [format!(r#"Bearer error="invalid_request", {named}"#)]
    );

    // A valid token passes without a challenge, and the claims' own 403 does not know the
    // metadata (see the next test for adding it).
    let token = api.token(None);
    let ok = api
        .http
        .get(&orders)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(challenges(&ok).is_empty());
    let forbidden = api
        .http
        .get(format!("{}/admin", api.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    assert_eq!(
        challenges(&forbidden),
        [r#"Bearer error="insufficient_scope", scope="admin""#]
    );
}

#[test]
fn a_refusal_can_name_the_metadata_url_and_quotes_its_values() {
    use axum::response::IntoResponse;

    let error = BearerError::from(Refusal::InsufficientScope("admin".into()))
        .with_resource_metadata(&metadata());
    assert_eq!(error.resource_metadata(), Some(METADATA_URL));
    assert!(matches!(error.refusal(), Refusal::InsufficientScope(s) if s == "admin"));
    let response = error.into_response();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            r#"Bearer error="insufficient_scope", scope="admin", {}"#,
            named()
        )
    );
    // A value with `"` or `\` is escaped as quoted-pairs (RFC 7235), not left to end the
    // string early.
    let response = BearerError::from(Refusal::InsufficientScope(r#"a"b\c"#.into())).into_response();
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="a\"b\\c""#
    );
}

#[tokio::test]
async fn with_dpop_and_resource_metadata_both_challenges_name_the_metadata_url() {
    let dpop = DpopConfig::new(ORIGIN).unwrap();
    let api = start_api_with(Some(dpop.clone()), Some(metadata().with_dpop(&dpop))).await;
    let orders = format!("{}/orders", api.base);
    let named = named();

    let missing = api.http.get(&orders).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        challenges(&missing),
        [
            format!("Bearer {named}"),
            format!("DPoP {ALL_ALGS}, {named}")
        ]
    );
    let invalid = api
        .http
        .get(&orders)
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 401);
    assert_eq!(
        challenges(&invalid),
        [
            format!(
                r#"Bearer error="invalid_token", error_description="the token is malformed", {named}"#
            ),
            format!("DPoP {ALL_ALGS}, {named}"),
        ]
    );
    let client = ProofKey::generate();
    let token = api.token(Some(&client.jkt));
    let unproven = api.dpop_get("/orders", &token, &[]).send().await.unwrap();
    assert_eq!(unproven.status(), 401);
    assert_eq!(
        challenges(&unproven),
        [
            format!(
                r#"DPoP error="invalid_dpop_proof", error_description="exactly one DPoP proof header is required", {ALL_ALGS}, {named}"#
            ),
            format!("Bearer {named}"),
        ]
    );
    let proof = client.proof("GET", &format!("{ORIGIN}/orders"), &token);
    let proven = api
        .dpop_get("/orders", &token, &[&proof])
        .send()
        .await
        .unwrap();
    assert_eq!(proven.status(), 200);
    assert!(challenges(&proven).is_empty());

    // The document says what the extractor does: DPoP accepted, not required.
    let document: Value = api
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            api.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        document["dpop_signing_alg_values_supported"],
        json!(["ES256", "RS256", "EdDSA", "Ed25519"])
    );
    assert_eq!(document["dpop_bound_access_tokens_required"], json!(false));
}

#[tokio::test]
async fn without_resource_metadata_no_challenge_names_one() {
    for dpop in [None, Some(DpopConfig::new(ORIGIN).unwrap())] {
        let with_dpop = dpop.is_some();
        let api = start_api(dpop).await;
        let missing = api
            .http
            .get(format!("{}/orders", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 401);
        let expected = if with_dpop {
            vec!["Bearer".to_owned(), format!("DPoP {ALL_ALGS}")]
        } else {
            vec!["Bearer".to_owned()]
        };
        assert_eq!(challenges(&missing), expected);
        let invalid = api
            .http
            .get(format!("{}/orders", api.base))
            .bearer_auth("garbage")
            .send()
            .await
            .unwrap();
        assert_eq!(invalid.status(), 401);
        assert!(
            challenges(&invalid)
                .iter()
                .all(|c| !c.contains("resource_metadata")),
            "{:?}",
            challenges(&invalid)
        );
        // Nor is a document served.
        let document = api
            .http
            .get(format!("{}{WELL_KNOWN_PATH}/mcp", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(document.status(), 404);
    }

    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let jwks = Jwks::default();
    jwks.set
        .lock()
        .unwrap()
        .keys
        .push(key.public_jwk().unwrap().clone());
    let validator = RemoteValidator::new(&jwks_server(jwks).await, rules())
        .await
        .unwrap();
    assert_eq!(validator.resource_metadata_url(), None);
    let validator = validator.with_resource_metadata(&metadata());
    assert_eq!(validator.resource_metadata_url(), Some(METADATA_URL));
}
