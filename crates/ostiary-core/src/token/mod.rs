//! Token issuance, introspection and revocation: what the token, introspection and revocation
//! endpoints call.

mod access_token;
pub(crate) mod id_token;
mod introspection;
mod issued;
mod resolve;
mod service;
mod user_grants;
mod userinfo;

pub use access_token::AccessTokenClaims;
pub use introspection::Introspection;
pub use resolve::{
    narrow_audience, resolve_audience, resolve_authorization_scope, resolve_scope,
    resolve_user_audience,
};
pub use service::{TokenResponse, TokenService, TokenSettings, USERINFO_PATH, userinfo_audience};
pub use user_grants::{CodeRedemption, GrantError, UserTokens};
pub use userinfo::UserInfo;
