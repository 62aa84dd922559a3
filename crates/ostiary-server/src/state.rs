//! `AppState`: everything a handler may use, built explicitly at startup (no globals).

use std::sync::Arc;

use ostiary_core::{Clock, Store};

use crate::config::{Config, Secrets};

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub secrets: Arc<Secrets>,
}
