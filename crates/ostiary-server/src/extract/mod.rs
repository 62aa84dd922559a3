//! Typed input from requests: strict forms and client credentials.

pub mod client_credentials;
pub mod dpop;
pub mod form;
pub mod source_ip;
