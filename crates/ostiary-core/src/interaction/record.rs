//! An interaction as the store keeps it: opaque to the store, which only finds it by the
//! hash of its id, checks nothing inside it, and forgets it when it expires.

use time::OffsetDateTime;

use crate::secret::SecretHash;

/// One stored interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInteraction {
    /// SHA-256 of the interaction id the browser's form carries: a database leak yields no
    /// usable id.
    pub id_hash: SecretHash,
    /// SHA-256 of the browser binding (the value of the browser's encrypted CSRF cookie):
    /// the id alone, copied to another browser, advances nothing.
    pub binding_hash: SecretHash,
    /// Where the walk stands and what it is for, as JSON written and read by core only.
    pub state: String,
    /// After this instant the interaction is gone, whatever its step.
    pub expires_at: OffsetDateTime,
}
