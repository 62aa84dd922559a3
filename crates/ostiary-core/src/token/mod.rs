//! Token issuance, introspection and revocation: what the token, introspection and revocation
//! endpoints call. A token request is parsed once (`TokenRequest`) and run by one call
//! (`TokenService::exchange`), one file per grant under `grants/`.

mod access_token;
mod admin_access;
mod grants;
pub(crate) mod id_token;
mod introspection;
mod issued;
mod request;
mod resolve;
mod service;
mod userinfo;

pub use access_token::{AccessTokenClaims, AccessTokenSpec, Actor, Confirmation};
pub use admin_access::{
    ADMIN_AUDIENCE_PATH, ADMIN_READ_SCOPE, ADMIN_SCOPE, AdminAccess, AdminCaller, admin_audience,
};
pub use grants::{GrantError, Issued, Subject};
pub use introspection::{INTROSPECTION_JWT_MEDIA_TYPE, INTROSPECTION_SIGNING_ALG, Introspection};
pub use request::{TokenParams, TokenRequest};
pub use resolve::{
    narrow_audience, resolve_audience, resolve_authorization_scope, resolve_scope,
    resolve_user_audience,
};
pub use service::{TokenResponse, TokenService, TokenSettings, USERINFO_PATH, userinfo_audience};
pub use userinfo::UserInfo;
