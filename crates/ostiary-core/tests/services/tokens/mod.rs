//! `TokenService::exchange`, one module per grant.

mod authorization_code;
mod client_credentials;
mod refresh_token;
