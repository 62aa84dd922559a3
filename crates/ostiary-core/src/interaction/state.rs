//! Where an interaction stands, as the JSON kept in its store row.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_jwt::KeySealer;
use serde::{Deserialize, Serialize};

use super::InteractionError;
use crate::authorize::{AuthorizationRequest, StoredRequest};
use crate::device::UserCode;
use crate::mfa::TotpSecret;
use crate::secret::SecretHash;

/// The page the browser was last shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Stage {
    Login,
    SecondFactor,
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
    /// the code the user typed, as shown (`XXXX-XXXX`), for the consent page to repeat,
    /// sealed (base64url) under a key derived from the browser binding: the database never
    /// holds a user code in plain text, not even in a deleted row's leftover bytes.
    Device { device: String, user_code: String },
    /// A sign-in at `/login` with no application waiting, kept only while the user gives
    /// their second factor. Last, so the variants above match first.
    SignIn { sign_in: SignInOnly },
}

/// The marker of [`Purpose::SignIn`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SignInOnly {
    Login,
}

const USER_CODE_CONTEXT: &[u8] = b"device user code";
const ENROLLING_CONTEXT: &[u8] = b"totp key being enrolled";

/// Values an interaction row holds that the database must never see in plain text (user codes,
/// TOTP keys being enrolled), sealed under a key derived from the browser binding, which only
/// the browser's cookie carries; each kind under its own context. The purpose label is the
/// one the first such value (the user code) was sealed under, kept so values in flight open.
fn binding_sealer(binding: &str) -> Result<KeySealer, ostiary_jwt::SealError> {
    KeySealer::for_purpose(binding.as_bytes(), b"ostiary interaction user code")
}

fn seal_for_binding(
    binding: &str,
    context: &[u8],
    plain: &[u8],
) -> Result<String, InteractionError> {
    binding_sealer(binding)
        .and_then(|sealer| sealer.seal(context, plain))
        .map(|sealed| URL_SAFE_NO_PAD.encode(sealed))
        .map_err(|_| InteractionError::Unavailable)
}

fn open_for_binding(binding: &str, context: &[u8], sealed: &str) -> Option<Vec<u8>> {
    let sealed = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    binding_sealer(binding).ok()?.open(context, &sealed).ok()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct State {
    #[serde(flatten)]
    pub purpose: Purpose,
    pub stage: Stage,
    /// The user (id) the consent or second-factor page was shown to: only their session (or,
    /// with `password_checked`, this walk) may answer it.
    pub user: Option<String>,
    /// The user (id) whose password this walk checked and whose session waits for their
    /// second factor: only while it is `user` may the code start a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_checked_for: Option<String>,
    /// The key `user` is enrolling on the second-factor page, sealed for the browser binding
    /// (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolling: Option<String>,
    /// Wrong codes posted in this walk (at most `mfa::MAX_CODE_FAILURES`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub code_failures: u8,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl State {
    pub fn new(request: &AuthorizationRequest) -> Self {
        Self::with(Purpose::Authorize {
            request: Box::new(StoredRequest::from(request)),
        })
    }

    /// A device approval for the browser whose binding is `binding` (its CSRF cookie value).
    pub fn device(
        device_code_hash: &SecretHash,
        user_code: &UserCode,
        binding: &str,
    ) -> Result<Self, InteractionError> {
        let user_code =
            seal_for_binding(binding, USER_CODE_CONTEXT, user_code.display().as_bytes())?;
        Ok(Self::with(Purpose::Device {
            device: URL_SAFE_NO_PAD.encode(device_code_hash.as_bytes()),
            user_code,
        }))
    }

    /// A sign-in with no application waiting, at its second factor.
    pub fn sign_in() -> Self {
        Self::with(Purpose::SignIn {
            sign_in: SignInOnly::Login,
        })
    }

    /// Keeps `secret` as the key being enrolled, sealed for the browser `binding`.
    pub fn set_enrolling(
        &mut self,
        secret: &TotpSecret,
        binding: &str,
    ) -> Result<(), InteractionError> {
        self.enrolling = Some(seal_for_binding(
            binding,
            ENROLLING_CONTEXT,
            secret.expose_bytes(),
        )?);
        Ok(())
    }

    /// The key being enrolled, opened with the browser's `binding`.
    pub fn enrolling(&self, binding: &str) -> Option<TotpSecret> {
        let plain = open_for_binding(binding, ENROLLING_CONTEXT, self.enrolling.as_deref()?)?;
        TotpSecret::from_bytes(&plain)
    }

    /// The user code of a device approval, as shown, opened with the browser's `binding`.
    pub fn user_code(&self, binding: &str) -> Option<String> {
        let Purpose::Device { user_code, .. } = &self.purpose else {
            return None;
        };
        String::from_utf8(open_for_binding(binding, USER_CODE_CONTEXT, user_code)?).ok()
    }

    fn with(purpose: Purpose) -> Self {
        Self {
            purpose,
            stage: Stage::Login,
            user: None,
            password_checked_for: None,
            enrolling: None,
            code_failures: 0,
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
            Purpose::Authorize { .. } | Purpose::SignIn { .. } => None,
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
        let code = UserCode::parse("bcdfghjk").unwrap();
        let mut state = State::device(&hash, &code, "binding").unwrap();
        assert!(!state.to_json().unwrap().contains("BCDF"), "sealed");
        state.stage = Stage::Consent;
        let back = State::from_json(&state.to_json().unwrap()).unwrap();
        assert_eq!(back.device_code_hash(), Some(hash));
        assert_eq!(back.stage, Stage::Consent);
        assert_eq!(back.user_code("binding").as_deref(), Some("BCDF-GHJK"));
        assert_eq!(back.user_code("another browser"), None);
        assert!(
            State::from_json(r#"{"device":"!!","user_code":"","stage":"login","user":null}"#)
                .unwrap()
                .device_code_hash()
                .is_none()
        );
        assert!(State::from_json(r#"{"stage":"login","user":null}"#).is_err());
    }
}
