//! A browser's walk through sign-in and consent, kept server-side.
mod record;
pub use record::StoredInteraction;
