//! Ostiary's protocol core: domain types, storage traits, and the services over them (the
//! token pipeline, authorization, sessions, and the Admin service).
//!
//! Nothing here knows about HTTP or SQL. Strings from the outside world are parsed into the
//! types of this crate at the edge (CLI, HTTP handlers), so code in here never re-validates.

pub mod admin;
pub mod audit;
pub mod authorize;
pub mod bff;
pub mod changes;
pub mod client;
pub mod client_auth;
pub mod client_cache;
pub mod clock;
pub mod device;
pub mod dpop;
pub mod error;
pub mod grant;
pub mod interaction;
pub mod keys;
pub mod login;
pub mod logout;
pub mod metadata_document;
pub mod mfa;
pub mod password;
pub mod pkce;
pub mod random;
pub mod registration;
pub mod secret;
pub mod session;
pub mod store;
pub mod token;
pub mod user;
pub mod validation;

pub use clock::{Clock, SystemClock};
pub use error::{AdminError, ErrorCode, OAuthError, error_chain};
pub use store::{
    AuditStore, ClientStore, DeviceAuthorizationStore, DocumentClientStore, GrantStore,
    InteractionStore, KeyStore, PoolStats, PushedRequestStore, RegistrationStore, ReplayStore,
    SecondFactorStore, SessionStore, Store, StoreError, TokenStore, UserStore,
};
pub use validation::InvalidInput;
