//! Pushed authorization requests (RFC 9126): a client posts its authorization request to the
//! PAR endpoint, authenticated, and gets a `request_uri` to send the browser with instead. The
//! request is checked when pushed and again when used, used once, within 60 seconds, and only
//! by the client that pushed it.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::request::single;
use super::{AuthorizeError, Authorizer};
use crate::client::{Client, ClientId};
use crate::error::{ErrorCode, OAuthError};
use crate::random::random_token;
use crate::secret::SecretHash;
use crate::token::Confirmation;

/// RFC 9126 2.2: the prefix of every `request_uri` the PAR endpoint issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a `request_uri` may be used after it was issued (RFC 9126 2.2 suggests short).
pub const PUSHED_REQUEST_LIFETIME: Duration = Duration::seconds(60);
/// Longest `request_uri` looked up; ours are the prefix and 43 characters.
const MAX_REQUEST_URI_LEN: usize = 128;

/// A pushed request as stored: found by the SHA-256 of the random part of its `request_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    pub id_hash: SecretHash,
    /// The authenticated client that pushed it: the only one that may use it.
    pub client_id: ClientId,
    /// The authorization request's parameters as pushed, JSON (`[[name, value], ...]`);
    /// only core reads it.
    pub params: String,
    pub expires_at: OffsetDateTime,
}

/// The PAR endpoint's answer (RFC 9126 2.2), served with status 201.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    pub request_uri: String,
    /// Seconds until `request_uri` can no longer be used.
    pub expires_in: i64,
}

#[derive(Serialize, Deserialize)]
struct Params(Vec<(String, String)>);

impl Authorizer {
    /// RFC 9126 2.1: checks `params` as the authorization endpoint would for `client` (the
    /// authenticated one; a `client_id` parameter must name it) and stores them under a new
    /// `request_uri` (256 random bits). `dpop` is the key of a DPoP proof sent with the push:
    /// the code will be bound to it (RFC 9449 10.1).
    ///
    /// Errors: `invalid_request` for a `request_uri` among the parameters or a `client_id`
    /// naming another client; otherwise whatever the authorization endpoint would answer
    /// (`invalid_request` for a missing or `plain` PKCE challenge or an unregistered redirect
    /// URI, `invalid_scope`, `invalid_target`...); `invalid_dpop_proof` for a `dpop_jkt` that
    /// is not the proof's key; `server_error` when the store fails.
    pub async fn push(
        &self,
        client: &Client,
        params: Vec<(String, String)>,
        dpop: Option<&Confirmation>,
    ) -> Result<Pushed, OAuthError> {
        if params.iter().any(|(name, _)| name == "request_uri") {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "request_uri cannot be pushed (RFC 9126 2.1)",
            ));
        }
        let named: Vec<&str> = params
            .iter()
            .filter(|(name, _)| name == "client_id")
            .map(|(_, value)| value.as_str())
            .collect();
        let mut params = match named.as_slice() {
            [] => {
                let mut params = params;
                params.push(("client_id".to_owned(), client.id.as_str().to_owned()));
                params
            }
            [id] if *id == client.id.as_str() => params,
            _ => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "client_id does not match the authenticated client",
                ));
            }
        };
        let unpack = |e: AuthorizeError| match e {
            AuthorizeError::Page(error) | AuthorizeError::Redirect { error, .. } => error,
        };
        // RFC 9126 3: a request object pushed is opened (and its jti spent) now; what is
        // kept is its parameters.
        if params.iter().any(|(name, _)| name == "request") {
            params = self.open_request_object(&params).await.map_err(unpack)?;
        }
        // RFC 9449 10.1: a proof sent with the push binds the code to its key, as dpop_jkt
        // would; both at once must name the same key.
        if let Some(proof) = dpop {
            match params.iter().find(|(name, _)| name == "dpop_jkt") {
                Some((_, jkt)) if *jkt != proof.jkt => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidDpopProof,
                        "dpop_jkt is not the thumbprint of the DPoP proof's key",
                    ));
                }
                Some(_) => {}
                None => params.push(("dpop_jkt".to_owned(), proof.jkt.clone())),
            }
        }
        self.check(params.clone(), true).await.map_err(unpack)?;
        let id = random_token::<32>();
        let record = PushedRequest {
            id_hash: SecretHash::of(&id),
            client_id: client.id.clone(),
            params: serde_json::to_string(&Params(params))
                .map_err(|_| OAuthError::server_error())?,
            expires_at: self.clock.now_seconds() + PUSHED_REQUEST_LIFETIME,
        };
        self.store.insert_pushed_request(&record).await?;
        Ok(Pushed {
            request_uri: format!("{REQUEST_URI_PREFIX}{id}"),
            expires_in: PUSHED_REQUEST_LIFETIME.whole_seconds(),
        })
    }

    /// RFC 9126 4: the parameters of the pushed request `request_uri` names, taken (it works
    /// once), for the client `client_id` names; the request's other parameters are ignored.
    /// Shown to the user when it fails: without the pushed request nothing says where a
    /// redirect may go.
    pub(super) async fn take_pushed(
        &self,
        params: &[(String, String)],
    ) -> Result<Vec<(String, String)>, AuthorizeError> {
        let invalid = |why: &'static str| {
            AuthorizeError::Page(OAuthError::new(ErrorCode::InvalidRequestUri, why))
        };
        let value = |name: &'static str| single(params, name).ok().flatten();
        let client_id =
            value("client_id").ok_or_else(|| invalid("client_id is required with request_uri"))?;
        let id = value("request_uri")
            .filter(|uri| uri.len() <= MAX_REQUEST_URI_LEN)
            .and_then(|uri| uri.strip_prefix(REQUEST_URI_PREFIX))
            .ok_or_else(|| invalid("request_uri is not one this server issued"))?;
        let unusable = || invalid("request_uri is unknown, used, expired or another client's");
        let client_id = ClientId::parse_any(client_id).map_err(|_| unusable())?;
        // Taken only with its own client's id: a request_uri presented for another client
        // is not spent (whoever holds it and names the right client spends it, and is sent
        // through the real client's flow to its registered redirect URI).
        let pushed = self
            .store
            .take_pushed_request(&SecretHash::of(id), &client_id)
            .await
            .map_err(|e| AuthorizeError::Page(e.into()))?
            .ok_or_else(unusable)?;
        if self.clock.now_seconds() >= pushed.expires_at {
            return Err(unusable());
        }
        let Ok(Params(params)) = serde_json::from_str(&pushed.params) else {
            return Err(unusable());
        };
        Ok(params)
    }
}
