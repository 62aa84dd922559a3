//! Where an interaction stands, as the JSON kept in its store row.

use serde::{Deserialize, Serialize};

use super::InteractionError;
use crate::authorize::{AuthorizationRequest, StoredRequest};

/// The page the browser was last shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Stage {
    Login,
    Consent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct State {
    pub request: StoredRequest,
    pub stage: Stage,
    /// The user (id) the consent page was shown to: only their session may decide.
    pub user: Option<String>,
}

impl State {
    pub fn new(request: &AuthorizationRequest) -> Self {
        Self {
            request: StoredRequest::from(request),
            stage: Stage::Login,
            user: None,
        }
    }

    pub fn to_json(&self) -> Result<String, InteractionError> {
        serde_json::to_string(self).map_err(|e| {
            tracing::error!(error = %e, "an interaction could not be serialised");
            InteractionError::Unavailable
        })
    }

    /// A row that does not parse (written by a different version, or damaged) ends the
    /// interaction rather than the request.
    pub fn from_json(json: &str) -> Result<Self, InteractionError> {
        serde_json::from_str(json).map_err(|_| InteractionError::Expired)
    }
}
