//! The server's integration tests, one test binary (each extra binary would link the whole
//! server again): a module per area, shared helpers in `support`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

mod admin_api;
mod audit;
mod audit_durability;
mod authorize;
mod bff;
mod cli;
mod client_metadata;
mod config;
mod deploy;
mod device;
mod dpop;
mod http;
mod instances;
mod interaction;
mod jar;
mod key_clients;
mod limits;
mod logout;
mod mcp;
mod metrics;
mod mfa;
mod oidc;
mod outage;
mod par;
mod refresh;
mod registration;
mod rotation;
mod runbook;
mod serve;
mod third_party;
mod tls;
mod token_exchange;
mod tokens;
