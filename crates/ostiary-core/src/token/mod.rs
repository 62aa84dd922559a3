//! Token issuance, introspection and revocation: what the token, introspection and revocation
//! endpoints call.

mod access_token;
mod id_token;
mod introspection;
mod request;
mod service;
mod user_grants;
mod userinfo;

pub use access_token::AccessTokenClaims;
pub use introspection::Introspection;
pub use request::{resolve_audience, resolve_scope};
pub use service::{TokenResponse, TokenService, TokenSettings, USERINFO_PATH};
pub use user_grants::{CodeRedemption, GrantError, UserTokens};
pub use userinfo::UserInfo;
