//! The token request (RFC 6749 3.2), parsed once from the endpoint's form parameters into the
//! grant it asks for, before any grant runs.

use std::str::FromStr;

use crate::client::GrantType;
use crate::error::{ErrorCode, OAuthError};

/// The parameters of a form request as the endpoint read them: empty values count as absent
/// (RFC 6749 3.1) and only `resource` may repeat (RFC 8707 2). The server's form extractor
/// implements it; core never sees the HTTP request itself.
pub trait TokenParams {
    /// The value of a single-valued parameter, `None` when absent or empty.
    fn get(&self, name: &str) -> Option<&str>;
    /// Every value of a repeatable parameter (`resource`), in request order.
    fn all(&self, name: &str) -> &[String];
}

/// A token request, by grant: the parameters each grant defines, named as RFC 6749 (and
/// RFC 8707 for `resource`) spells them. Borrowed from the parsed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRequest<'a> {
    /// RFC 6749 4.4.2.
    ClientCredentials {
        scope: Option<&'a str>,
        resources: &'a [String],
    },
    /// RFC 6749 4.1.3 with RFC 7636 4.5. `redirect_uri` and `code_verifier` are required
    /// too, but checked by the grant after the code is found, as they always were.
    AuthorizationCode {
        code: &'a str,
        redirect_uri: Option<&'a str>,
        code_verifier: Option<&'a str>,
        resources: &'a [String],
    },
    /// RFC 6749 6.
    RefreshToken {
        refresh_token: &'a str,
        scope: Option<&'a str>,
        resources: &'a [String],
    },
    /// RFC 8628 3.4, with RFC 8707 `resource`.
    DeviceCode {
        device_code: &'a str,
        resources: &'a [String],
    },
    /// RFC 8693 2.1. `subject_token_type` is required with `subject_token`, as
    /// `actor_token_type` is with `actor_token`; the grant checks their values.
    TokenExchange {
        subject_token: &'a str,
        subject_token_type: &'a str,
        actor_token: Option<&'a str>,
        requested_token_type: Option<&'a str>,
        scope: Option<&'a str>,
        /// RFC 8693 `resource` (absolute URIs) and `audience` (logical names), both
        /// repeatable: the targets of the new token.
        resources: &'a [String],
        audiences: &'a [String],
    },
}

impl<'a> TokenRequest<'a> {
    /// Reads the grant and its parameters. Errors, as RFC 6749 5.2 names them: a missing
    /// `grant_type`, `code`, `refresh_token`, `device_code`, `subject_token` or
    /// `subject_token_type` is `invalid_request` (`"<name> is required"`);
    /// a grant this server does not serve is `unsupported_grant_type`.
    pub fn parse<P: TokenParams + ?Sized>(params: &'a P) -> Result<Self, OAuthError> {
        let grant = params
            .get("grant_type")
            .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "grant_type is required"))?;
        let grant = GrantType::from_str(grant).map_err(|_| {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )
        })?;
        let resources = params.all("resource");
        Ok(match grant {
            GrantType::ClientCredentials => Self::ClientCredentials {
                scope: params.get("scope"),
                resources,
            },
            GrantType::AuthorizationCode => Self::AuthorizationCode {
                code: required(params, "code")?,
                redirect_uri: params.get("redirect_uri"),
                code_verifier: params.get("code_verifier"),
                resources,
            },
            GrantType::RefreshToken => Self::RefreshToken {
                refresh_token: required(params, "refresh_token")?,
                scope: params.get("scope"),
                resources,
            },
            GrantType::DeviceCode => Self::DeviceCode {
                device_code: required(params, "device_code")?,
                resources,
            },
            GrantType::TokenExchange => {
                let actor_token = params.get("actor_token");
                if actor_token.is_some() {
                    required(params, "actor_token_type")?;
                }
                Self::TokenExchange {
                    subject_token: required(params, "subject_token")?,
                    subject_token_type: required(params, "subject_token_type")?,
                    actor_token,
                    requested_token_type: params.get("requested_token_type"),
                    scope: params.get("scope"),
                    resources,
                    audiences: params.all("audience"),
                }
            }
        })
    }

    /// The grant requested.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::DeviceCode { .. } => GrantType::DeviceCode,
            Self::TokenExchange { .. } => GrantType::TokenExchange,
        }
    }
}

fn required<'a, P: TokenParams + ?Sized>(
    params: &'a P,
    name: &'static str,
) -> Result<&'a str, OAuthError> {
    params
        .get(name)
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, format!("{name} is required")))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Form(Vec<(&'static str, &'static str)>, Vec<String>);

    impl TokenParams for Form {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        }
        fn all(&self, name: &str) -> &[String] {
            if name == "resource" { &self.1 } else { &[] }
        }
    }

    type Pairs = &'static [(&'static str, &'static str)];

    fn form(pairs: Pairs) -> Form {
        Form(pairs.to_vec(), vec![])
    }

    #[test]
    fn each_grant_reads_its_own_parameters() {
        let form_cc = form(&[("grant_type", "client_credentials"), ("scope", "a b")]);
        assert_eq!(
            TokenRequest::parse(&form_cc).unwrap(),
            TokenRequest::ClientCredentials {
                scope: Some("a b"),
                resources: &[]
            }
        );
        let form_code = form(&[
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("redirect_uri", "https://app/cb"),
            ("code_verifier", "v"),
            ("scope", "ignored"),
        ]);
        let code = TokenRequest::parse(&form_code).unwrap();
        assert_eq!(
            code,
            TokenRequest::AuthorizationCode {
                code: "c",
                redirect_uri: Some("https://app/cb"),
                code_verifier: Some("v"),
                resources: &[]
            }
        );
        assert_eq!(code.grant_type(), GrantType::AuthorizationCode);
        let form_refresh = form(&[("grant_type", "refresh_token"), ("refresh_token", "r")]);
        let refresh = TokenRequest::parse(&form_refresh).unwrap();
        assert_eq!(
            refresh,
            TokenRequest::RefreshToken {
                refresh_token: "r",
                scope: None,
                resources: &[]
            }
        );
        let form_device = form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", "d"),
        ]);
        let device = TokenRequest::parse(&form_device).unwrap();
        assert_eq!(
            device,
            TokenRequest::DeviceCode {
                device_code: "d",
                resources: &[]
            }
        );
        assert_eq!(device.grant_type(), GrantType::DeviceCode);
    }

    #[test]
    fn resources_are_passed_through_in_order() {
        let form = Form(
            vec![("grant_type", "client_credentials")],
            vec!["https://a".to_owned(), "https://b".to_owned()],
        );
        let TokenRequest::ClientCredentials { resources, .. } = TokenRequest::parse(&form).unwrap()
        else {
            panic!("client_credentials expected");
        };
        assert_eq!(resources, ["https://a", "https://b"]);
    }

    #[test]
    fn missing_and_unknown_parameters_get_their_rfc_6749_errors() {
        let cases: [(Pairs, ErrorCode, &str); 6] = [
            (&[], ErrorCode::InvalidRequest, "grant_type is required"),
            (
                &[("grant_type", "password")],
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            ),
            (
                &[("grant_type", "Client_Credentials")],
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            ),
            (
                &[("grant_type", "authorization_code"), ("code_verifier", "v")],
                ErrorCode::InvalidRequest,
                "code is required",
            ),
            (
                &[("grant_type", "refresh_token"), ("scope", "a")],
                ErrorCode::InvalidRequest,
                "refresh_token is required",
            ),
            (
                &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code")],
                ErrorCode::InvalidRequest,
                "device_code is required",
            ),
        ];
        for (pairs, code, description) in cases {
            let err = TokenRequest::parse(&form(pairs)).unwrap_err();
            assert_eq!(
                (err.code(), err.description()),
                (code, description),
                "{pairs:?}"
            );
        }
    }
}
