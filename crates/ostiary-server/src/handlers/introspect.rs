//! `POST /introspect` (RFC 7662): `{"active": false}` for any token that is not valid, or not
//! the caller's business; signed by the server when the caller asks for a JWT (RFC 9701).

use axum::Json;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use ostiary_core::token::INTROSPECTION_JWT_MEDIA_TYPE;

use super::{no_store, token_request};
use crate::error::ApiError;
use crate::extract::form::OAuthForm;
use crate::extract::source_ip::SourceIp;
use crate::state::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    source: SourceIp,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let (client, token) = token_request(&state, &headers, &form, source).await?;
    let answer = state.tokens.introspect(&client, token).await?;
    if !wants_jwt(&headers) {
        return Ok(no_store(Json(answer)));
    }
    let signed = state.tokens.sign_introspection(&client, &answer)?;
    let mut response = no_store(signed);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(INTROSPECTION_JWT_MEDIA_TYPE),
    );
    Ok(response)
}

/// RFC 9701 4: the caller lists `application/token-introspection+jwt` in `Accept` (other
/// parameters and listed types aside), with a weight above zero: `q=0` is "not acceptable"
/// (RFC 9110 12.4.2), and so is a weight that is not a number.
fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            parts
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(INTROSPECTION_JWT_MEDIA_TYPE))
                && parts.all(|param| match param.split_once('=') {
                    Some((name, weight)) if name.trim().eq_ignore_ascii_case("q") => weight
                        .trim()
                        .parse::<f32>()
                        .is_ok_and(|q| q > 0.0 && q <= 1.0),
                    _ => true,
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ACCEPT, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn a_jwt_only_when_listed_with_a_weight_above_zero() {
        for wanted in [
            &["application/token-introspection+jwt"][..],
            &["application/json;q=0.5, Application/Token-Introspection+JWT;q=0.1"],
            &[
                "application/json",
                "application/token-introspection+jwt; charset=utf-8",
            ],
        ] {
            assert!(wants_jwt(&accepting(wanted)), "{wanted:?}");
        }
        for refused in [
            &[][..],
            &["application/json"],
            &["application/token-introspection+jwt;q=0"],
            &["application/token-introspection+jwt; Q=0.000"],
            &["application/token-introspection+jwt;q=x"],
            &["application/token-introspection+jwt;q=NaN"],
            &["application/token-introspection+jwt;q=2"],
            &["*/*"],
        ] {
            assert!(!wants_jwt(&accepting(refused)), "{refused:?}");
        }
    }
}
