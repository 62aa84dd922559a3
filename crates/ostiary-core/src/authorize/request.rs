//! Parsing an authorization request (RFC 6749 4.1.1, OpenID Connect Core 3.1.2.1).
//!
//! The client and its redirect URI are established first. Until both are, an error is shown
//! to the user (never redirected, RFC 6749 4.1.2.1); after that, errors go back to the client.

use std::sync::Arc;

use crate::client::{Client, ClientId, GrantType, Scope};
use crate::client_cache::ClientCache;
use crate::error::{ErrorCode, OAuthError};
use crate::pkce::CodeChallenge;
use crate::token::{resolve_authorization_scope, resolve_user_audience};
use crate::validation::has_control_chars;

/// Longest accepted `state` and `nonce`: generous for any real client, small enough that a
/// hostile value cannot bloat pages, codes or tokens.
pub const MAX_STATE_LEN: usize = 2048;
pub const MAX_NONCE_LEN: usize = 512;
/// Longest accepted `login_hint` (a username or an email address, with room to spare).
pub const MAX_LOGIN_HINT_LEN: usize = 256;

/// OpenID Connect `prompt` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

impl Prompt {
    /// The values served, as discovery advertises them (`prompt_values_supported`); any
    /// other is refused with `invalid_request` (OpenID Connect Core 3.1.2.1 allows it).
    pub const VALUES: [&'static str; 3] = ["none", "login", "consent"];
}

/// A request whose every parameter was checked against the client.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: Arc<Client>,
    /// As presented: it matched a registered URI (exactly, or by the loopback port rule).
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scopes: Vec<Scope>,
    pub code_challenge: CodeChallenge,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// RFC 8707 resources, each registered for the client (empty: the client's default).
    pub resources: Vec<String>,
    /// Who the client expects to sign in (OpenID Connect Core 3.1.2.1 `login_hint`, or the
    /// username of the `id_token_hint`'s subject): pre-fills the login form.
    pub login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint`: only that user may be signed in for this request.
    pub id_token_hint_subject: Option<String>,
    /// The `id_token_hint` as received, verified (and taken) by `Authorizer::parse`.
    pub(super) id_token_hint: Option<String>,
    /// RFC 9449 10: the thumbprint of the DPoP key the code is bound to.
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    pub fn has_scope(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.as_str() == name)
    }
}

/// Where an error goes.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// The client or redirect URI is not established: shown to the user, never redirected.
    Page(OAuthError),
    /// Returned to the client at its redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// The single value of a parameter; a repeated one is an error (RFC 6749 3.1). `name` is
/// `'static` so the error can only echo one of our own parameter names, never request text.
pub(super) fn single<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, OAuthError> {
    let mut values = params.iter().filter(|(k, _)| k == name);
    let first = values.next().map(|(_, v)| v.as_str());
    if values.next().is_some() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            format!("{name} must not be repeated"),
        ));
    }
    Ok(first.filter(|v| !v.is_empty()))
}

/// `max_age` in seconds: any count of digits (OpenID Connect Core 3.1.2.1 sets no bound); a
/// count past `u32::MAX` (136 years) is taken as `u32::MAX`, as good as no bound.
fn parse_max_age(value: Option<&str>) -> Result<Option<i64>, OAuthError> {
    value
        .map(|v| {
            if v.bytes().all(|b| b.is_ascii_digit()) {
                Ok(v.parse::<u32>().map_or(i64::from(u32::MAX), i64::from))
            } else {
                Err(invalid("max_age must be a non-negative number of seconds"))
            }
        })
        .transpose()
}

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, description)
}

/// Establishes the client and the redirect URI: the only checks whose failure is shown to
/// the user instead of the client.
async fn client_and_redirect(
    params: &[(String, String)],
    clients: &ClientCache,
) -> Result<(Arc<Client>, String), OAuthError> {
    let client_id = single(params, "client_id")?.ok_or(invalid("client_id is required"))?;
    let unknown = || invalid("the client is unknown");
    let client_id = ClientId::parse_any(client_id).map_err(|_| unknown())?;
    let client = clients.find(&client_id).await?.ok_or_else(unknown)?;
    // OpenID Connect requires it, and OAuth 2.1 whenever several are registered: always
    // requiring it means no request is ever answered at a URI the client did not name.
    let redirect_uri =
        single(params, "redirect_uri")?.ok_or(invalid("redirect_uri is required"))?;
    if !client.redirect_uris.iter().any(|r| r.matches(redirect_uri)) {
        return Err(invalid(
            "redirect_uri is not registered for this client (it must match exactly)",
        ));
    }
    Ok((client, redirect_uri.to_owned()))
}

/// Parses and checks an authorization request.
///
/// Every parameter value is refused if it holds a control character: values end up in
/// pages, rows and tokens, and the backends would disagree on them (PostgreSQL text cannot
/// hold a NUL, SQLite can). This is the one place that rule is enforced for the request.
pub async fn parse_request(
    params: Vec<(String, String)>,
    clients: &ClientCache,
    userinfo_audience: &str,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let (client, redirect_uri) = client_and_redirect(&params, clients)
        .await
        .map_err(AuthorizeError::Page)?;
    // `state` first, so every later error carries it back.
    let state = match single(&params, "state") {
        Ok(Some(state)) if has_control_chars(state) => {
            return Err(AuthorizeError::Redirect {
                redirect_uri,
                state: None,
                error: invalid("state contains control characters"),
            });
        }
        Ok(state) if state.is_none_or(|s| s.len() <= MAX_STATE_LEN) => state.map(str::to_owned),
        Ok(_) => {
            return Err(AuthorizeError::Redirect {
                redirect_uri,
                state: None,
                error: invalid("state is too long"),
            });
        }
        Err(error) => {
            return Err(AuthorizeError::Redirect {
                redirect_uri,
                state: None,
                error,
            });
        }
    };
    let redirect = |error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
    };
    if params.iter().any(|(_, value)| has_control_chars(value)) {
        return Err(redirect(invalid("a parameter contains control characters")));
    }
    let checked = check_parameters(&params, &client, userinfo_audience).map_err(redirect)?;
    Ok(AuthorizationRequest {
        client,
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        scopes: checked.scopes,
        code_challenge: checked.code_challenge,
        nonce: checked.nonce,
        prompt: checked.prompt,
        max_age: checked.max_age,
        resources: checked.resources,
        login_hint: checked.login_hint,
        id_token_hint_subject: None,
        id_token_hint: checked.id_token_hint,
        dpop_jkt: checked.dpop_jkt,
    })
}

/// Whether a request checked earlier is still within what `client` is registered for now:
/// the redirect URI, the authorization code grant, the scopes and the resources. An
/// interaction resumed after the operator narrowed the client (an incident: a callback
/// domain removed, a scope withdrawn) ends instead of finishing under the old registration.
pub(super) fn still_registered(
    client: &Client,
    redirect_uri: &str,
    scopes: &[Scope],
    resources: &[String],
    userinfo_audience: &str,
) -> bool {
    let openid = scopes.iter().any(|s| s.as_str() == "openid");
    client.redirect_uris.iter().any(|r| r.matches(redirect_uri))
        && client.require_grant(GrantType::AuthorizationCode).is_ok()
        && scopes.iter().all(|s| client.scopes.contains(s))
        && resolve_user_audience(resources, client, openid, userinfo_audience).is_ok()
}

struct Checked {
    scopes: Vec<Scope>,
    code_challenge: CodeChallenge,
    nonce: Option<String>,
    prompt: Prompt,
    max_age: Option<i64>,
    resources: Vec<String>,
    login_hint: Option<String>,
    id_token_hint: Option<String>,
    dpop_jkt: Option<String>,
}

fn check_parameters(
    params: &[(String, String)],
    client: &Client,
    userinfo_audience: &str,
) -> Result<Checked, OAuthError> {
    match single(params, "response_type")? {
        Some("code") => {}
        None => return Err(invalid("response_type is required")),
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !matches!(single(params, "response_mode")?, None | Some("query")) {
        return Err(invalid("only response_mode=query is supported"));
    }
    client.require_grant(GrantType::AuthorizationCode)?;
    let challenge = single(params, "code_challenge")?
        .ok_or(invalid("code_challenge is required (PKCE with S256)"))?;
    let code_challenge = CodeChallenge::parse(challenge, single(params, "code_challenge_method")?)
        .map_err(|e| OAuthError::new(ErrorCode::InvalidRequest, e.to_string()))?;
    let scopes = resolve_authorization_scope(single(params, "scope")?, &client.scopes)?;
    let nonce = single(params, "nonce")?;
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return Err(invalid("nonce is too long"));
    }
    let prompt = parse_prompt(single(params, "prompt")?)?;
    let max_age = parse_max_age(single(params, "max_age")?)?;
    let resources: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "resource")
        .map(|(_, v)| v.clone())
        .collect();
    // Only checked here; the audience is resolved again when the code is redeemed.
    let openid = scopes.iter().any(|s| s.as_str() == "openid");
    resolve_user_audience(&resources, client, openid, userinfo_audience)?;
    let login_hint = single(params, "login_hint")?;
    if login_hint.is_some_and(|h| h.len() > MAX_LOGIN_HINT_LEN) {
        return Err(invalid("login_hint is too long"));
    }
    Ok(Checked {
        scopes,
        code_challenge,
        nonce: nonce.map(str::to_owned),
        prompt,
        max_age,
        resources,
        login_hint: login_hint.map(str::to_owned),
        id_token_hint: single(params, "id_token_hint")?.map(str::to_owned),
        dpop_jkt: parse_dpop_jkt(single(params, "dpop_jkt")?)?,
    })
}

/// RFC 9449 10: a JWK SHA-256 thumbprint, base64url without padding (43 characters).
fn parse_dpop_jkt(value: Option<&str>) -> Result<Option<String>, OAuthError> {
    match value {
        None => Ok(None),
        Some(jkt)
            if jkt.len() == 43
                && jkt
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(jkt.to_owned()))
        }
        Some(_) => Err(invalid(
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        )),
    }
}

fn parse_prompt(value: Option<&str>) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    for item in value
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        match item {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            _ => return Err(invalid("prompt has an unsupported value")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(invalid("prompt=none cannot be combined with other values"));
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_values() {
        assert_eq!(
            parse_prompt(Some("login consent")).unwrap(),
            Prompt {
                none: false,
                login: true,
                consent: true
            }
        );
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("bogus")).is_err());
        // Not served (one account per session), so neither advertised nor accepted.
        assert!(parse_prompt(Some("select_account")).is_err());
        for value in Prompt::VALUES {
            assert!(parse_prompt(Some(value)).is_ok(), "{value}");
        }
        assert_eq!(parse_prompt(None).unwrap(), Prompt::default());
    }

    #[test]
    fn max_age_is_any_count_of_seconds() {
        assert_eq!(parse_max_age(None).unwrap(), None);
        assert_eq!(parse_max_age(Some("0")).unwrap(), Some(0));
        assert_eq!(parse_max_age(Some("3600")).unwrap(), Some(3600));
        for huge in ["4294967296", "99999999999999999999999999"] {
            assert_eq!(
                parse_max_age(Some(huge)).unwrap(),
                Some(i64::from(u32::MAX))
            );
        }
        for bad in ["-1", "+5", "1.5", "1e3", " 1", "x"] {
            assert!(parse_max_age(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let params = vec![
            ("state".to_owned(), "a".to_owned()),
            ("state".to_owned(), "b".to_owned()),
        ];
        assert!(single(&params, "state").is_err());
        assert_eq!(single(&params, "nonce").unwrap(), None);
    }
}
