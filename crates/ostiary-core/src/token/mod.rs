//! Token issuance, introspection and revocation: what the token, introspection and revocation
//! endpoints call.

mod access_token;
mod introspection;
mod request;
mod service;

pub use access_token::AccessTokenClaims;
pub use introspection::Introspection;
pub use request::{resolve_audience, resolve_scope};
pub use service::{TokenResponse, TokenService, TokenSettings};
