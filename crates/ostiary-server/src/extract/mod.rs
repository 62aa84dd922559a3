//! Typed input from requests: strict forms and client credentials.

pub mod client_credentials;
pub mod form;
