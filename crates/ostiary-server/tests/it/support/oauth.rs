//! OAuth requests as a client sends them: authorization request parameters with PKCE, form
//! posts to the token and introspection endpoints, and reading the JWTs the server issued.

use super::APP_REDIRECT;

/// A form POST, optionally with HTTP Basic client credentials.
pub fn form_post(
    path: &str,
    body: &str,
    basic: Option<(&str, &str)>,
) -> axum::http::Request<axum::body::Body> {
    use base64::Engine;
    let mut builder =
        axum::http::Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        builder = builder.header("authorization", format!("Basic {encoded}"));
    }
    builder
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap()
}

/// `application/x-www-form-urlencoded` text of these fields, in order.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The claims of a JWT, read without verifying it (tests look at what the server issued).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let segment = jwt.split('.').nth(1).expect("a JWS has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A fresh PKCE pair: (S256 challenge, verifier).
pub fn pkce() -> (String, String) {
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    (challenge.as_str().to_owned(), verifier.secret().clone())
}

/// The parameters of an authorization code request with PKCE S256 to `APP_REDIRECT`.
pub fn code_request(
    client_id: &str,
    scope: &str,
    state: &str,
    challenge: &str,
) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", APP_REDIRECT),
        ("scope", scope),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Replaces (or adds) one parameter; an empty value removes it.
pub fn set_param(params: &mut Vec<(String, String)>, name: &str, value: &str) {
    params.retain(|(k, _)| k != name);
    if !value.is_empty() {
        params.push((name.to_owned(), value.to_owned()));
    }
}

/// A form POST to `{base}{path}`, with HTTP Basic client credentials when a secret is
/// given (client_id in the body otherwise); the status and the JSON body (`Null` if none).
pub async fn post_client_form(
    base: &str,
    path: &str,
    client_id: &str,
    secret: Option<&str>,
    fields: &[(&str, &str)],
) -> (reqwest::StatusCode, serde_json::Value) {
    let http = reqwest::Client::new();
    post_client_form_with(&http, base, path, client_id, secret, fields).await
}

/// `post_client_form` through `http`: a client built once, where requests must not each
/// pay for building one (it loads the system's roots, holding up a test's single thread).
pub async fn post_client_form_with(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    client_id: &str,
    secret: Option<&str>,
    fields: &[(&str, &str)],
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut fields: Vec<(&str, &str)> = fields.to_vec();
    let mut request = http.post(format!("{base}{path}"));
    match secret {
        Some(secret) => request = request.basic_auth(client_id, Some(secret)),
        None => fields.push(("client_id", client_id)),
    }
    let response = request.form(&fields).send().await.expect("POST");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Redeems a code at `/token` with `APP_REDIRECT` and the verifier.
pub async fn redeem_code(
    base: &str,
    client_id: &str,
    secret: Option<&str>,
    code: &str,
    verifier: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    post_client_form(
        base,
        "/token",
        client_id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", APP_REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Uses a refresh token at `/token`.
pub async fn use_refresh_token(
    base: &str,
    client_id: &str,
    secret: Option<&str>,
    refresh_token: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    post_client_form(
        base,
        "/token",
        client_id,
        secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// Introspects a token as a confidential client; the JSON answer (must be 200).
pub async fn introspect_as(
    base: &str,
    client_id: &str,
    secret: &str,
    token: &str,
) -> serde_json::Value {
    let (status, json) = post_client_form(
        base,
        "/introspect",
        client_id,
        Some(secret),
        &[("token", token)],
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{json}");
    json
}
