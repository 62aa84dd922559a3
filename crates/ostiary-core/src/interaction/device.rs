//! Device approval (RFC 8628 3.3) as an interaction: the user code typed at the verification
//! page starts it, sign-in (and a second factor the client requires) follows if needed, and
//! the consent page (always shown, with the phishing warning) ends it with the answer the
//! device's next poll receives.

use std::sync::Arc;

use super::service::{ConsentPage, Interactions};
use super::state::State;
use super::{AfterConsent, Answer, Browser, Decision, InteractionError, InteractionId, Step};
use crate::audit::{AuditEvent, AuditEventType};
use crate::client::Client;
use crate::device::{DeviceApproval, DeviceAuthorization, UserCode};
use crate::secret::SecretHash;
use crate::session::Session;

/// A device authorization still waiting for the user, with its client as it is now.
pub(super) struct PendingDevice {
    pub device: DeviceAuthorization,
    pub client: Arc<Client>,
}

impl Interactions {
    /// `POST /device`: the device authorization `user_code` names (typed by the user, in any
    /// case, with or without the dash) begins an interaction: the login form, or the consent
    /// page for a signed-in user. `Ok(None)` when the code names no pending authorization
    /// (mistyped, expired, answered): the caller counts it as a failed guess.
    pub async fn begin_device(
        &self,
        user_code: &str,
        browser: &Browser<'_>,
    ) -> Result<Option<Answer>, InteractionError> {
        let Some(user_code) = UserCode::parse(user_code) else {
            return Ok(None);
        };
        let Some((device, client)) = self.devices.pending_by_user_code(&user_code).await? else {
            return Ok(None);
        };
        let session = self.session(browser).await;
        let state = State::device(&device.device_code_hash, &user_code, browser.binding)?;
        let step = self
            .device_step(
                None,
                state,
                PendingDevice { device, client },
                browser,
                session.as_ref(),
            )
            .await?;
        Ok(Some(step.into()))
    }

    /// The device authorization an interaction is for, if it is still waiting.
    pub(super) async fn pending_device(
        &self,
        state: &State,
    ) -> Result<Option<PendingDevice>, InteractionError> {
        let Some(hash) = state.device_code_hash() else {
            return Ok(None);
        };
        Ok(self
            .devices
            .pending(&hash)
            .await?
            .map(|(device, client)| PendingDevice { device, client }))
    }

    /// The page a device approval shows next: sign-in without a session, else the consent
    /// page, which a device approval always shows (a remembered consent or a client's
    /// `skip_consent` never answers for the user: RFC 8628 5.4), with the user code to
    /// compare with the device's screen.
    pub(super) async fn device_step(
        &self,
        existing: Option<(InteractionId, SecretHash)>,
        state: State,
        pending: PendingDevice,
        browser: &Browser<'_>,
        session: Option<&Session>,
    ) -> Result<Step, InteractionError> {
        let client_name = pending.client.name.clone();
        let Some(session) = session else {
            return self
                .show_login(existing, state, browser, client_name, String::new())
                .await;
        };
        if self
            .authorizer
            .lacks_second_factor(&pending.client, session)
        {
            return self
                .show_second_factor(existing, state, browser, session.user_id, Some(client_name))
                .await;
        }
        let page = ConsentPage {
            client_name,
            client_host: pending.client.id.document_host(),
            scopes: pending.device.scopes,
            after: AfterConsent::Device {
                user_code: state.user_code(browser.binding).unwrap_or_default(),
            },
        };
        self.show_consent(existing, state, browser, session, page)
            .await
    }

    /// The user's decision on a device's request, recorded for the device's next poll and
    /// audited (`device.approved`, `device.denied`). `Expired` when it was answered
    /// elsewhere or expired meanwhile.
    pub(super) async fn answer_device(
        &self,
        pending: &PendingDevice,
        session: &Session,
        browser: &Browser<'_>,
        decision: Decision,
    ) -> Result<Step, InteractionError> {
        // As for codes: an approval needs the second factor its client requires, whatever
        // page led here.
        if decision == Decision::Approve
            && self
                .authorizer
                .lacks_second_factor(&pending.client, session)
        {
            return Err(InteractionError::Expired);
        }
        let approval = (decision == Decision::Approve).then(|| DeviceApproval {
            user_id: session.user_id,
            sid: session.sid.clone(),
            auth_time: session.auth_time,
            mfa: session.mfa,
        });
        if !self
            .devices
            .settle(&pending.device.device_code_hash, approval)
            .await?
        {
            return Err(InteractionError::Expired);
        }
        let event_type = match decision {
            Decision::Approve => AuditEventType::DeviceApproved,
            Decision::Deny => AuditEventType::DeviceDenied,
        };
        let event = AuditEvent::new(
            self.clock.now_seconds(),
            event_type,
            format!("user:{}", session.user_id),
        )
        .client(pending.client.id.as_str())
        .subject(session.user_id.to_string())
        .source_ip(browser.source_ip.map(str::to_owned));
        self.audit.record(event).await;
        Ok(Step::DeviceAnswered(decision))
    }
}
