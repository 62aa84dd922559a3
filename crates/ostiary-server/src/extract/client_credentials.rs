//! Client credentials from a request: HTTP Basic (RFC 6749 2.3.1, both parts form-encoded),
//! form parameters, or a client assertion (RFC 7523 2.2), never two of them; a public client
//! names itself with `client_id` alone.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ostiary_core::client_auth::{ClientCredentials, invalid_client};
use ostiary_core::{ErrorCode, OAuthError};
use secrecy::SecretString;

use super::form::OAuthForm;

fn invalid_request(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, description)
}

pub fn client_credentials(
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<ClientCredentials, OAuthError> {
    let form_id = form.get("client_id");
    let form_secret = form.get("client_secret");
    if let Some(assertion) = form.get("client_assertion") {
        if headers.contains_key(AUTHORIZATION) || form_secret.is_some() {
            return Err(invalid_request(
                "use exactly one client authentication method",
            ));
        }
        return ClientCredentials::assertion(form.get("client_assertion_type"), assertion, form_id);
    }
    if form.get("client_assertion_type").is_some() {
        return Err(invalid_client());
    }
    match headers.get(AUTHORIZATION) {
        Some(value) => {
            let (client_id, secret) = parse_basic(value.as_bytes()).ok_or_else(invalid_client)?;
            if form_secret.is_some() {
                return Err(invalid_request(
                    "use exactly one client authentication method",
                ));
            }
            if form_id.is_some_and(|id| id != client_id) {
                return Err(invalid_request(
                    "client_id does not match the authenticated client",
                ));
            }
            Ok(ClientCredentials::SecretBasic {
                client_id,
                secret: SecretString::from(secret),
            })
        }
        None => match (form_id, form_secret) {
            (Some(id), Some(secret)) => Ok(ClientCredentials::SecretPost {
                client_id: id.to_owned(),
                secret: SecretString::from(secret.to_owned()),
            }),
            (Some(id), None) => Ok(ClientCredentials::None {
                client_id: id.to_owned(),
            }),
            (None, _) => Err(invalid_client()),
        },
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

fn form_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(raw: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(raw));
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        headers
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let creds = client_credentials(&basic("my%3Aid:s%2Bcr+t"), &OAuthForm::default()).unwrap();
        let ClientCredentials::SecretBasic { client_id, secret } = creds else {
            panic!("expected basic")
        };
        assert_eq!(client_id, "my:id");
        use secrecy::ExposeSecret;
        assert_eq!(secret.expose_secret(), "s+cr t");
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let form = OAuthForm::parse(b"client_id=a&client_secret=b").unwrap();
        let err = client_credentials(&basic("a:b"), &form).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
    }

    #[test]
    fn an_assertion_names_its_client_and_excludes_other_methods() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"svc","sub":"svc"}"#);
        let assertion = format!("e30.{payload}.c2ln");
        let form = |extra: &str| {
            OAuthForm::parse(
                format!(
                    "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type\
                     %3Ajwt-bearer&client_assertion={assertion}{extra}"
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let creds = client_credentials(&HeaderMap::new(), &form("&client_id=svc")).unwrap();
        assert!(matches!(creds, ClientCredentials::PrivateKeyJwt { .. }));
        assert_eq!(creds.client_id(), "svc");
        let other = client_credentials(&HeaderMap::new(), &form("&client_id=other"));
        assert_eq!(other.unwrap_err().code(), ErrorCode::InvalidClient);
        let both = client_credentials(&basic("svc:x"), &form(""));
        assert_eq!(both.unwrap_err().code(), ErrorCode::InvalidRequest);
        let wrong_type = OAuthForm::parse(
            format!("client_assertion_type=saml&client_assertion={assertion}").as_bytes(),
        )
        .unwrap();
        let err = client_credentials(&HeaderMap::new(), &wrong_type).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }

    #[test]
    fn malformed_basic_and_missing_credentials_are_invalid_client() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        let err = client_credentials(&headers, &OAuthForm::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert!(client_credentials(&headers, &OAuthForm::default()).is_err());
        let err = client_credentials(&HeaderMap::new(), &OAuthForm::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
    }
}
