//! The BFF as a client of the authorization server: its discovery document, the token,
//! pushed-authorization and revocation endpoints, with the client's own authentication and
//! DPoP proofs.

use std::time::Duration;

use anyhow::{Context, bail};
use ostiary_jwt::remote::RemoteValidator;
use ostiary_jwt::{Algorithm, KeySet, Profile, SigningKey, Validator};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::config::{BffConfig, ClientCredentials};
use super::jwt;
use super::session::AccessToken;

/// The members of the server's discovery document (RFC 8414, OpenID Connect Discovery) the
/// BFF uses.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    pushed_authorization_request_endpoint: Option<String>,
    #[serde(default)]
    dpop_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// What the token endpoint gave (RFC 6749 section 5.1).
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: SecretString,
    #[serde(default)]
    pub token_type: String,
    pub expires_in: Option<i64>,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Why a token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The server refused the grant (RFC 6749 section 5.2 `error`): for a refresh token,
    /// `invalid_grant` means its family is over and so is the session.
    #[error("the authorization server refused the request: {0}")]
    Refused(String),
    /// The server could not be reached or answered something else.
    #[error("the authorization server is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// The authorization server, as discovered at start.
#[derive(Debug)]
pub struct AuthServer {
    http: reqwest::Client,
    discovery: Discovery,
    client_id: String,
    credentials: Credentials,
    /// ID tokens for this client (OpenID Connect Core 3.1.3.7).
    pub id_tokens: RemoteValidator,
    /// Logout tokens for this client (OpenID Connect Back-Channel Logout 2.6).
    pub logout_tokens: RemoteValidator,
    /// Tokens are bound to a key of the session's when the server offers DPoP with ES256.
    pub dpop: bool,
    /// The last `DPoP-Nonce` the server sent (RFC 9449 section 8).
    nonce: std::sync::Mutex<Option<String>>,
}

#[derive(Debug)]
enum Credentials {
    Secret(SecretString),
    PrivateKey(Box<SigningKey>),
}

/// How long a call to the authorization server may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a token or discovery response read at most.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

impl AuthServer {
    /// Reads `<issuer>/.well-known/openid-configuration` and the key set, and checks the
    /// document names the configured issuer byte for byte (RFC 8414 section 3.3).
    pub async fn discover(config: &BffConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("could not build the HTTP client")?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        );
        let response = http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("could not read the discovery document at {url}"))?;
        let body = read_limited(response).await?;
        let discovery: Discovery =
            serde_json::from_slice(&body).context("the discovery document is not valid")?;
        if discovery.issuer != config.issuer {
            bail!(
                "the discovery document names issuer {:?}, not the configured {:?}",
                discovery.issuer,
                config.issuer
            );
        }
        let rules = |profile| {
            Validator::new(
                profile,
                config.issuer.clone(),
                config.client_id.clone(),
                KeySet::default(),
            )
        };
        let id_tokens = RemoteValidator::new(&discovery.jwks_uri, rules(Profile::IdToken))
            .await
            .context("could not read the server's keys")?;
        let logout_tokens = RemoteValidator::new(&discovery.jwks_uri, rules(Profile::LogoutToken))
            .await
            .context("could not read the server's keys")?;
        let credentials = match &config.credentials {
            ClientCredentials::Secret(secret) => Credentials::Secret(secret.clone()),
            ClientCredentials::PrivateKey(path) => {
                Credentials::PrivateKey(Box::new(load_key(path)?))
            }
        };
        let dpop = config.dpop
            && discovery
                .dpop_signing_alg_values_supported
                .iter()
                .any(|a| a == Algorithm::Es256.as_str());
        Ok(Self {
            http,
            discovery,
            client_id: config.client_id.clone(),
            credentials,
            id_tokens,
            logout_tokens,
            dpop,
            nonce: std::sync::Mutex::new(None),
        })
    }

    /// The server puts `iss` in its authorization responses (RFC 9207 section 3), so one
    /// without it is refused (section 2.4).
    pub fn sends_iss(&self) -> bool {
        self.discovery
            .authorization_response_iss_parameter_supported
    }

    /// Where the browser goes to sign in: the authorization endpoint with `params`, or, when
    /// the server offers PAR (RFC 9126), with the `request_uri` of the pushed `params`.
    pub async fn authorization_url(&self, params: &[(&str, &str)]) -> Result<String, TokenError> {
        let mut url = url::Url::parse(&self.discovery.authorization_endpoint)
            .map_err(|e| TokenError::Unavailable(e.into()))?;
        match &self.discovery.pushed_authorization_request_endpoint {
            Some(endpoint) => {
                #[derive(Deserialize)]
                struct Pushed {
                    request_uri: String,
                }
                let body = self.post(endpoint, params, None, false).await?;
                let pushed: Pushed =
                    serde_json::from_slice(&body).map_err(|e| TokenError::Unavailable(e.into()))?;
                url.query_pairs_mut()
                    .append_pair("client_id", &self.client_id)
                    .append_pair("request_uri", &pushed.request_uri);
            }
            None => {
                url.query_pairs_mut().extend_pairs(params);
            }
        }
        Ok(url.into())
    }

    /// A token request (RFC 6749 section 4.1.3 or 6) with `params`, proving possession of
    /// `dpop_key` when given.
    pub async fn token(
        &self,
        params: &[(&str, &str)],
        dpop_key: Option<&SigningKey>,
    ) -> Result<TokenResponse, TokenError> {
        let endpoint = self.discovery.token_endpoint.clone();
        let body = self.post(&endpoint, params, dpop_key, false).await?;
        serde_json::from_slice(&body).map_err(|e| TokenError::Unavailable(e.into()))
    }

    /// Revokes a refresh token (RFC 7009), and with it the grant; failures are logged only.
    pub async fn revoke(&self, refresh_token: &SecretString) {
        let Some(endpoint) = self.discovery.revocation_endpoint.clone() else {
            return;
        };
        let params = [
            ("token", refresh_token.expose_secret()),
            ("token_type_hint", "refresh_token"),
        ];
        if let Err(e) = self.post(&endpoint, &params, None, false).await {
            tracing::warn!(error = %e, "could not revoke the session's refresh token");
        }
    }

    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 section 2): where the
    /// browser goes to end its session at the server, then back to `post_logout_redirect_uri`.
    /// The client is named by `client_id`, not by an `id_token_hint`: that would put an ID
    /// token in the browser's address bar and history, and no token reaches the browser. The
    /// server then asks the user to confirm, which also keeps other sites from signing them
    /// out.
    pub fn end_session_url(&self, post_logout_redirect_uri: &str) -> Option<String> {
        let mut url = url::Url::parse(self.discovery.end_session_endpoint.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
        Some(url.into())
    }

    /// The userinfo endpoint's URL: also the audience of the tokens it accepts (RFC 8707
    /// resource), as Ostiary names it.
    pub fn userinfo_endpoint(&self) -> Option<&str> {
        self.discovery.userinfo_endpoint.as_deref()
    }

    /// The user's claims from the userinfo endpoint (OpenID Connect Core 5.3), with an
    /// access token meant for it; retries once with the nonce a DPoP server asks for.
    pub async fn userinfo(
        &self,
        token: &AccessToken,
        dpop_key: Option<&SigningKey>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
        let unavailable = |e: anyhow::Error| TokenError::Unavailable(e);
        let endpoint = self
            .userinfo_endpoint()
            .ok_or_else(|| unavailable(anyhow::anyhow!("the server has no userinfo endpoint")))?;
        let bound = dpop_key.filter(|_| token.token_type.eq_ignore_ascii_case("dpop"));
        let mut nonce: Option<String> = None;
        for _ in 0..2 {
            let mut request = self.http.get(endpoint);
            let secret = token.token.expose_secret();
            request = match bound {
                Some(key) => {
                    let proof =
                        jwt::dpop_proof(key, "GET", endpoint, Some(secret), nonce.as_deref())
                            .map_err(|e| unavailable(e.into()))?;
                    request
                        .header("authorization", format!("DPoP {secret}"))
                        .header("dpop", proof)
                }
                None => request.header("authorization", format!("Bearer {secret}")),
            };
            let response = request.send().await.map_err(|e| unavailable(e.into()))?;
            let status = response.status();
            let asked = response
                .headers()
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = read_limited(response).await.map_err(unavailable)?;
            if status.is_success() {
                return serde_json::from_slice(&body).map_err(|e| unavailable(e.into()));
            }
            match asked {
                Some(asked) if status == reqwest::StatusCode::UNAUTHORIZED && nonce.is_none() => {
                    nonce = Some(asked);
                }
                _ => break,
            }
        }
        Err(unavailable(anyhow::anyhow!(
            "the userinfo endpoint refused the token"
        )))
    }

    /// POSTs a form with the client's authentication and, with a key, a DPoP proof; retries
    /// once with the nonce the server asks for (RFC 9449 section 8).
    async fn post(
        &self,
        endpoint: &str,
        params: &[(&str, &str)],
        dpop_key: Option<&SigningKey>,
        retried: bool,
    ) -> Result<Vec<u8>, TokenError> {
        let unavailable = |e: anyhow::Error| TokenError::Unavailable(e);
        let mut form: Vec<(&str, String)> =
            params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let mut request = self.http.post(endpoint);
        match &self.credentials {
            Credentials::Secret(secret) => {
                // RFC 6749 2.3.1: both parts form-urlencoded before Basic encoding.
                let encode =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                request = request.basic_auth(
                    encode(&self.client_id),
                    Some(encode(secret.expose_secret())),
                );
            }
            Credentials::PrivateKey(key) => {
                let assertion = jwt::client_assertion(key, &self.client_id, &self.discovery.issuer)
                    .map_err(|e| unavailable(e.into()))?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion));
            }
        }
        if let Some(key) = dpop_key {
            let nonce = self.nonce.lock().map(|n| n.clone()).unwrap_or_default();
            let proof = jwt::dpop_proof(key, "POST", endpoint, None, nonce.as_deref())
                .map_err(|e| unavailable(e.into()))?;
            request = request.header("DPoP", proof);
        }
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(e.into()))?;
        let status = response.status();
        if let Some(nonce) = response
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            && let Ok(mut slot) = self.nonce.lock()
        {
            *slot = Some(nonce.to_owned());
        }
        let body = read_limited(response).await.map_err(unavailable)?;
        if status.is_success() {
            return Ok(body);
        }
        #[derive(Deserialize)]
        struct Refusal {
            error: String,
        }
        match serde_json::from_slice::<Refusal>(&body) {
            Ok(refusal) if refusal.error == "use_dpop_nonce" && dpop_key.is_some() && !retried => {
                Box::pin(self.post(endpoint, params, dpop_key, true)).await
            }
            Ok(refusal) if status.is_client_error() => Err(TokenError::Refused(refusal.error)),
            _ => Err(unavailable(anyhow::anyhow!("the server answered {status}"))),
        }
    }
}

/// Reads a response body of at most `MAX_RESPONSE_BYTES`.
async fn read_limited(mut response: reqwest::Response) -> anyhow::Result<Vec<u8>> {
    match read_bounded(&mut response, MAX_RESPONSE_BYTES).await {
        Ok(body) => Ok(body),
        Err(BodyError::TooLarge) => bail!("the response is over {MAX_RESPONSE_BYTES} bytes"),
        Err(BodyError::Failed(e)) => Err(e.into()),
    }
}

/// Why a bounded read of a body failed.
#[derive(Debug)]
pub(super) enum BodyError {
    /// Over the limit, by its `Content-Length` or as it arrived.
    TooLarge,
    /// The connection failed or timed out.
    Failed(reqwest::Error),
}

/// The body of `response`, at most `limit` bytes: refused by its `Content-Length` before
/// reading, and chunk by chunk for a body without one.
pub(super) async fn read_bounded(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Failed)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----`), for ES256 (P-256), EdDSA
/// (Ed25519) or RS256 (RSA, 2048 bits or more), whichever it is.
fn load_key(path: &std::path::Path) -> anyhow::Result<SigningKey> {
    use base64::Engine;
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let body: String = pem
        .lines()
        .skip_while(|l| l.trim() != "-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| l.trim() != "-----END PRIVATE KEY-----")
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .filter(|d| !d.is_empty())
        .with_context(|| format!("{} is not a PKCS#8 PEM private key", path.display()))?;
    [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256]
        .into_iter()
        .find_map(|alg| SigningKey::from_pkcs8(alg, &der).ok())
        .with_context(|| format!("{} holds no ES256, EdDSA or RS256 key", path.display()))
}

/// The public JWK set of the configured `client_private_key_file` (RFC 7517 section 5), as
/// JSON: what `ostiary client create --jwks` registers for the BFF's `private_key_jwt`.
pub fn client_jwks(config: &BffConfig) -> anyhow::Result<String> {
    let ClientCredentials::PrivateKey(path) = &config.credentials else {
        bail!(
            "the BFF authenticates with a client secret; set client_private_key_file for private_key_jwt"
        );
    };
    let key = load_key(path)?;
    let jwk = key.public_jwk().context("the key has no public half")?;
    let set = ostiary_jwt::JwkSet {
        keys: vec![jwk.clone()],
    };
    Ok(format!("{}\n", serde_json::to_string(&set)?))
}
