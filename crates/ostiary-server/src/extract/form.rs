//! `application/x-www-form-urlencoded` bodies of the OAuth endpoints, parsed strictly:
//! a repeated parameter is an error (RFC 6749 3.1, 3.2), except those defined to repeat
//! (`resource`, RFC 8707; `audience`, RFC 8693); empty values count as absent (RFC 6749 3.1).

use std::borrow::Cow;
use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use ostiary_core::{ErrorCode, OAuthError};

use crate::error::ApiError;
use crate::request_body::{self, BodyRules};
use crate::state::AppState;

/// RFC 8707 `resource`, and RFC 8693 2.1 `audience`.
const REPEATABLE: [&str; 2] = ["resource", "audience"];

/// The parameters the form endpoints (token, revocation, introspection) define: the only
/// names an error may repeat back. Any other name is the requester's text and is not echoed.
const KNOWN: [&str; 19] = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "resource",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "token",
    "token_type_hint",
    "audience",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
];

/// A repeated parameter (RFC 6749 3.1): named when it is one of ours, spelled from our own
/// list rather than from the request.
fn repeated(name: &str) -> OAuthError {
    let description = match KNOWN.iter().find(|known| **known == name) {
        Some(known) => format!("parameter {known} is repeated").into(),
        None => Cow::Borrowed("a parameter is repeated"),
    };
    OAuthError::new(ErrorCode::InvalidRequest, description)
}

#[derive(Debug, Default)]
pub struct OAuthForm {
    single: HashMap<String, String>,
    repeated: HashMap<String, Vec<String>>,
}

impl OAuthForm {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str)
    }

    pub fn all(&self, name: &str) -> &[String] {
        self.repeated.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every parameter but those named in `except`, as (name, value) pairs (repeatable ones
    /// once per value), in no particular order.
    pub fn pairs_except(&self, except: &[&str]) -> Vec<(String, String)> {
        let single = self.single.iter().map(|(k, v)| (k.clone(), v.clone()));
        let repeated = self
            .repeated
            .iter()
            .flat_map(|(k, values)| values.iter().map(move |v| (k.clone(), v.clone())));
        single
            .chain(repeated)
            .filter(|(name, _)| !except.contains(&name.as_str()))
            .collect()
    }

    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut form = Self::default();
        for (name, value) in form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if REPEATABLE.contains(&name.as_ref()) {
                form.repeated
                    .entry(name.into_owned())
                    .or_default()
                    .push(value.into_owned());
            } else if form
                .single
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(repeated(&name));
            }
        }
        Ok(form)
    }
}

impl FromRequest<AppState> for OAuthForm {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let body = form_body(request, state).await?;
        Self::parse(&body).map_err(ApiError::from)
    }
}

/// Every parameter of a form in order, repeats included: for the authorization request,
/// whose parser decides what may repeat, and for the HTML forms.
#[derive(Debug, Default)]
pub struct FormPairs(pub Vec<(String, String)>);

impl FormPairs {
    /// The parameters of a query string or an encoded form value.
    pub fn decode(encoded: &str) -> Self {
        Self(
            form_urlencoded::parse(encoded.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `name`; empty counts as absent (RFC 6749 3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Whether `name` is given more than once.
    pub fn repeats(&self, name: &str) -> bool {
        self.0.iter().filter(|(k, _)| k == name).nth(1).is_some()
    }
}

impl FromRequest<AppState> for FormPairs {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let body = form_body(request, state).await?;
        Ok(Self(form_urlencoded::parse(&body).into_owned().collect()))
    }
}

/// The body of an `application/x-www-form-urlencoded` request: 400 for any other type; read
/// within the body limit and deadline (`request_body::read`).
async fn form_body(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    request_body::require_type(request.headers(), "application/x-www-form-urlencoded")?;
    let (parts, body) = request.into_parts();
    request_body::read(&parts.headers, body, BodyRules::of(&state.config)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_except_resource() {
        let err = OAuthForm::parse(b"scope=a&scope=b").unwrap_err();
        assert_eq!(err.description(), "parameter scope is repeated");
        let form = OAuthForm::parse(b"resource=x&resource=y&scope=a+b&empty=").unwrap();
        assert_eq!(form.all("resource"), ["x", "y"]);
        assert_eq!(form.get("scope"), Some("a b"));
        assert_eq!(form.get("empty"), None);
    }

    #[test]
    fn an_unknown_repeated_name_is_not_echoed() {
        for body in [
            &b"x%22y=1&x%22y=2"[..],
            b"x%5Cy=1&x%5Cy=2",
            b"%C3%A9=1&%C3%A9=2",
            b"a%0Ab=1&a%0Ab=2",
            b"scope2=1&scope2=2",
        ] {
            let err = OAuthForm::parse(body).unwrap_err();
            assert_eq!(err.description(), "a parameter is repeated", "{body:?}");
        }
    }

    #[test]
    fn percent_encoding_and_garbage_do_not_panic() {
        let form = OAuthForm::parse(b"a=%ZZ&b=%E2%82%AC&%ff=1&&=").unwrap();
        assert_eq!(form.get("b"), Some("\u{20ac}"));
        assert!(form.get("a").is_some());
    }
}
