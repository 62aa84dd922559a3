//! `ostiary client update ID ...`: the settings to change, as flags.

use clap::{Args, ValueEnum};
use ostiary_core::admin::ClientUpdate;
use ostiary_core::client::{Audience, ClientId, GrantType, RedirectUri, Scope, UriPolicy};
use ostiary_jwt::Algorithm;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The client's id (generated ids are base64url and may start with `-`).
    #[arg(allow_hyphen_values = true)]
    pub client_id: ClientId,
    /// A new name shown to users on the consent page.
    #[arg(long)]
    name: Option<String>,
    /// The grants the client may use, repeatable; replaces the registered ones:
    /// authorization_code, refresh_token, client_credentials,
    /// urn:ietf:params:oauth:grant-type:device_code,
    /// urn:ietf:params:oauth:grant-type:token-exchange.
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<GrantType>,
    /// The redirect URIs, repeatable; replace the registered ones (matched exactly; https,
    /// http only for loopback).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// The scopes the client may ask for, repeatable or space-separated; replace the
    /// registered ones.
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ' ')]
    scopes: Vec<Scope>,
    /// RFC 8707 resources the client may request tokens for, repeatable; replace the
    /// registered ones.
    #[arg(long = "audience", value_name = "URI")]
    audiences: Vec<Audience>,
    /// For a resource server: audiences whose tokens it may introspect, repeatable; replace
    /// the registered ones.
    #[arg(long = "introspect-audience", value_name = "URI")]
    introspect_audiences: Vec<Audience>,
    /// Where RP-initiated logout may return to, repeatable; replace the registered ones.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Empty a list: redirect-uris (once no grant needs them), scopes, audiences,
    /// introspect-audiences or post-logout-redirect-uris (repeatable).
    #[arg(long, value_enum, value_name = "LIST")]
    clear: Vec<List>,
    /// Whether users are asked for consent: true for a first-party client that skips it.
    #[arg(long, value_name = "BOOL")]
    skip_consent: Option<bool>,
    /// Access token lifetime for this client in seconds (1 to 86400); 0 for the server's.
    #[arg(long, value_name = "SECS")]
    access_token_lifetime: Option<u32>,
    /// Signing algorithm of the client's ID tokens: RS256, ES256 or EdDSA.
    #[arg(long, value_name = "ALG")]
    id_token_alg: Option<Algorithm>,
    /// Whether every token request must carry a DPoP proof (RFC 9449).
    #[arg(long, value_name = "BOOL")]
    require_dpop: Option<bool>,
    /// Whether authorization requests must be pushed first (RFC 9126).
    #[arg(long, value_name = "BOOL")]
    require_par: Option<bool>,
    /// Whether users must give a second factor before the client gets a code for them.
    #[arg(long, value_name = "BOOL")]
    require_mfa: Option<bool>,
    /// Whether token exchanges by this client are impersonation (no `act`, RFC 8693 1.1).
    #[arg(long, value_name = "BOOL")]
    allow_impersonation: Option<bool>,
}

/// A list `--clear` empties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum List {
    RedirectUris,
    Scopes,
    Audiences,
    IntrospectAudiences,
    PostLogoutRedirectUris,
}

impl UpdateArgs {
    /// The flags as an update; redirect URIs are checked against the environment's policy.
    /// Errors: a list both given and cleared, a URI that does not parse.
    pub fn update(self, policy: UriPolicy) -> anyhow::Result<ClientUpdate> {
        let parse_uris = |uris: &[String]| -> Result<Vec<RedirectUri>, _> {
            uris.iter().map(|u| RedirectUri::parse(u, policy)).collect()
        };
        let clear = &self.clear;
        Ok(ClientUpdate {
            name: self.name,
            grant_types: Some(self.grant_types).filter(|g| !g.is_empty()),
            redirect_uris: list(clear, List::RedirectUris, parse_uris(&self.redirect_uris)?)?,
            scopes: list(clear, List::Scopes, self.scopes)?,
            audiences: list(clear, List::Audiences, self.audiences)?,
            introspect_audiences: list(
                clear,
                List::IntrospectAudiences,
                self.introspect_audiences,
            )?,
            post_logout_redirect_uris: list(
                clear,
                List::PostLogoutRedirectUris,
                parse_uris(&self.post_logout_redirect_uris)?,
            )?,
            skip_consent: self.skip_consent,
            access_token_lifetime: self
                .access_token_lifetime
                .map(|secs| (secs > 0).then(|| time::Duration::seconds(i64::from(secs)))),
            id_token_alg: self.id_token_alg,
            dpop_bound_access_tokens: self.require_dpop,
            require_pushed_authorization_requests: self.require_par,
            require_mfa: self.require_mfa,
            impersonation: self.allow_impersonation,
        })
    }
}

/// The values given for a list, an empty list when `--clear` names it, `None` when neither.
fn list<T>(clear: &[List], name: List, given: Vec<T>) -> anyhow::Result<Option<Vec<T>>> {
    match (clear.contains(&name), given.is_empty()) {
        (true, false) => anyhow::bail!(
            "--clear {} and values for that list: give one or the other",
            name.to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_owned())
        ),
        (true, true) => Ok(Some(Vec::new())),
        (false, false) => Ok(Some(given)),
        (false, true) => Ok(None),
    }
}
