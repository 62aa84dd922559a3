//! Authorization grants of users: codes, refresh token families and consents.

mod records;
mod revocation;

pub use records::{
    AuthorizationCode, Consent, Grant, PresentedCode, RefreshFamily, RefreshToken,
    RevokedEverything, StoredRefreshToken,
};
pub use revocation::RevocationReason;
