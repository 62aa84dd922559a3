//! The body of a registration request (RFC 7591 3.1, RFC 7592 2.2): a JSON object of client
//! metadata.

use axum::extract::{FromRequest, Request};
use ostiary_core::registration::ClientMetadata;
use ostiary_core::{ErrorCode, OAuthError};
use serde_json::Value;

use crate::error::ApiError;
use crate::request_body::{self, BodyRules};
use crate::state::AppState;

/// Client metadata sent as `application/json` (400 otherwise), read within the body limit and
/// deadline. A body that is not a JSON object, names a member twice (at any depth), or has a
/// known field of the wrong type is `invalid_client_metadata` (RFC 7591 3.2.2).
#[derive(Debug)]
pub struct MetadataBody(pub ClientMetadata);

impl FromRequest<AppState> for MetadataBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        request_body::require_type(request.headers(), "application/json")?;
        let (parts, body) = request.into_parts();
        let body = request_body::read(&parts.headers, body, BodyRules::of(&state.config)).await?;
        let invalid =
            |why: String| ApiError::from(OAuthError::new(ErrorCode::InvalidClientMetadata, why));
        // A name given twice could be read one way by a policy in front and another here.
        let metadata = ostiary_jwt::strict_json::parse_object(&body).map_err(|_| {
            invalid(
                "the client metadata must be one JSON object, each member named once".to_owned(),
            )
        })?;
        serde_json::from_value(Value::Object(metadata))
            .map(Self)
            .map_err(|e| invalid(format!("a metadata field has the wrong type: {e}")))
    }
}
