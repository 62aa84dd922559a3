//! Where an interaction stands, as the JSON kept in its store row.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::InteractionError;
use crate::authorize::{AuthorizationRequest, StoredRequest};
use crate::device::UserCode;
use crate::secret::SecretHash;

/// The page the browser was last shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Stage {
    Login,
    Consent,
}

/// What the walk is for. Untagged, so rows written before device approval existed (a bare
/// `request`) still read as authorization requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Purpose {
    /// An authorization request, answered at the client's redirect URI.
    Authorize { request: Box<StoredRequest> },
    /// A device's request (RFC 8628 3.3), named by the SHA-256 of its device code
    /// (base64url): answered on the page, the device learns it by polling. `user_code` is
    /// the code the user typed, as shown (`XXXX-XXXX`), for the consent page to repeat: kept
    /// only while the interaction lives.
    Device { device: String, user_code: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct State {
    #[serde(flatten)]
    pub purpose: Purpose,
    pub stage: Stage,
    /// The user (id) the consent page was shown to: only their session may decide.
    pub user: Option<String>,
}

impl State {
    pub fn new(request: &AuthorizationRequest) -> Self {
        Self::with(Purpose::Authorize {
            request: Box::new(StoredRequest::from(request)),
        })
    }

    pub fn device(device_code_hash: &SecretHash, user_code: &UserCode) -> Self {
        Self::with(Purpose::Device {
            device: URL_SAFE_NO_PAD.encode(device_code_hash.as_bytes()),
            user_code: user_code.display(),
        })
    }

    /// The user code of a device approval, as shown.
    pub fn user_code(&self) -> Option<&str> {
        match &self.purpose {
            Purpose::Device { user_code, .. } => Some(user_code),
            Purpose::Authorize { .. } => None,
        }
    }

    fn with(purpose: Purpose) -> Self {
        Self {
            purpose,
            stage: Stage::Login,
            user: None,
        }
    }

    /// The device code hash of a device approval; `None` for an authorization request or a
    /// damaged value.
    pub fn device_code_hash(&self) -> Option<SecretHash> {
        match &self.purpose {
            Purpose::Device { device, .. } => URL_SAFE_NO_PAD
                .decode(device)
                .ok()
                .and_then(|bytes| SecretHash::from_bytes(&bytes)),
            Purpose::Authorize { .. } => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_state_round_trips_and_names_its_device() {
        let hash = SecretHash::of("device code");
        let mut state = State::device(&hash, &UserCode::parse("bcdfghjk").unwrap());
        state.stage = Stage::Consent;
        let back = State::from_json(&state.to_json().unwrap()).unwrap();
        assert_eq!(back.device_code_hash(), Some(hash));
        assert_eq!(back.stage, Stage::Consent);
        assert_eq!(back.user_code(), Some("BCDF-GHJK"));
        assert!(
            State::from_json(r#"{"device":"!!","user_code":"","stage":"login","user":null}"#)
                .unwrap()
                .device_code_hash()
                .is_none()
        );
        assert!(State::from_json(r#"{"stage":"login","user":null}"#).is_err());
    }
}
