//! Authorization grants of users: codes, refresh token families and consents.

mod records;

pub use records::{
    AuthorizationCode, Consent, Grant, RefreshToken, RevokedEverything, StoredRefreshToken,
};
