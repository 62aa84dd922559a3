//! Ostiary's HTTP server: configuration, the router and its handlers, and the admin CLI.

pub mod admin_api;
pub mod audit;
pub mod background;
pub mod bff;
pub mod changes;
pub mod cli;
pub mod config;
pub mod connections;
pub mod cookies;
pub mod cors;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod metrics;
pub mod pages;
pub mod quota;
pub mod rate_limit;
pub mod request_body;
pub mod router;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod views;
