//! The SQL both backends run. SQLite and PostgreSQL accept the same `$n` placeholders and the
//! same statements here, so one body serves both; each macro is expanded once per backend.

pub(crate) mod audit;
pub(crate) mod bff_sessions;
pub(crate) mod clients;
pub(crate) mod device;
pub(crate) mod documents;
pub(crate) mod grants;
pub(crate) mod interactions;
pub(crate) mod keys;
pub(crate) mod lookups;
pub(crate) mod pushed;
pub(crate) mod registrations;
pub(crate) mod replays;
pub(crate) mod revoke;
pub(crate) mod second_factors;
pub(crate) mod sessions;
pub(crate) mod users;
