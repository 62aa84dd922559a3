//! Typed input from requests: strict forms, JSON client metadata, client credentials and
//! bearer tokens.

pub mod authorization;
pub mod client_credentials;
pub mod client_metadata;
pub mod dpop;
pub mod form;
pub mod source_ip;
