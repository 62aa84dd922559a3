//! JSON on stdout: the only thing admin commands print there.

use std::io::Write;

use ostiary_core::client::{Client, ClientJwks};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}

/// Text already formatted (JSON lines) on stdout.
pub fn print_raw(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// A client as shown to operators: everything but the secret (which is never kept).
#[derive(Debug, Serialize)]
pub struct ClientView<'a> {
    pub client_id: &'a str,
    pub name: &'a str,
    pub public: bool,
    pub token_endpoint_auth_method: &'static str,
    pub grant_types: Vec<&'static str>,
    pub redirect_uris: Vec<&'a str>,
    pub scopes: Vec<&'a str>,
    pub audiences: Vec<&'a str>,
    pub introspect_audiences: Vec<&'a str>,
    pub post_logout_redirect_uris: Vec<&'a str>,
    pub skip_consent: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime: Option<i64>,
    pub id_token_alg: &'static str,
    /// RFC 7591 2: the registered public keys, by value or by reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<&'a ostiary_jwt::JwkSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<&'a str>,
    /// RFC 9449 5.2 (`--require-dpop`).
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 6 (`--require-par`).
    pub require_pushed_authorization_requests: bool,
    /// `--allow-impersonation`: token exchanges without `act` (RFC 8693 1.1).
    pub impersonation: bool,
    /// When the secret replaced by `rotate-secret --keep-old` stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
}

impl<'a> From<&'a Client> for ClientView<'a> {
    fn from(c: &'a Client) -> Self {
        Self {
            client_id: c.id.as_str(),
            name: &c.name,
            public: c.is_public(),
            token_endpoint_auth_method: c.auth_method.as_str(),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            redirect_uris: c.redirect_uris.iter().map(|u| u.as_str()).collect(),
            scopes: c.scopes.iter().map(|s| s.as_str()).collect(),
            audiences: c.audiences.iter().map(|a| a.as_str()).collect(),
            introspect_audiences: c.introspect_audiences.iter().map(|a| a.as_str()).collect(),
            post_logout_redirect_uris: c
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str())
                .collect(),
            skip_consent: c.skip_consent,
            access_token_lifetime: c.access_token_lifetime.map(|d| d.whole_seconds()),
            id_token_alg: c.id_token_alg.as_str(),
            jwks: c.jwks.as_ref().and_then(ClientJwks::value),
            jwks_uri: c.jwks.as_ref().and_then(ClientJwks::uri),
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            impersonation: c.impersonation,
            previous_secret_expires_at: c.previous_secret.as_ref().map(|p| rfc3339(p.expires_at)),
            created_at: rfc3339(c.created_at),
        }
    }
}

pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
