//! What an admin command works with: the database, the configuration, and the Admin service
//! built over them from the parts the server uses (`state::key_manager`, the configured
//! Argon2 cost), with events written at once by [`ImmediateAudit`].

use std::sync::Arc;

use ostiary_core::SystemClock;
use ostiary_core::admin::Admin;
use ostiary_core::password::PasswordHasher;
use ostiary_store::Database;
use serde::Serialize;

use super::output::print_json;
use crate::audit::ImmediateAudit;
use crate::config::{Config, Secrets, resolve_secrets};
use crate::state::{key_manager, second_factors};

/// One admin command's database, configuration and audit writer.
#[derive(Debug)]
pub struct AdminContext<'a> {
    config: &'a Config,
    db: Database,
    audit: Arc<ImmediateAudit>,
}

impl<'a> AdminContext<'a> {
    /// Opens (and migrates) the configured database.
    pub async fn open(config: &'a Config) -> anyhow::Result<Self> {
        let db = super::open_database(config).await?;
        let audit = Arc::new(ImmediateAudit::new(db.store()));
        Ok(Self { config, db, audit })
    }

    /// The loaded configuration.
    pub fn config(&self) -> &Config {
        self.config
    }

    /// The Admin for operations that need neither the root secret nor password hashing.
    pub fn admin(&self) -> Admin {
        Admin::new(self.db.store(), self.audit.clone(), Arc::new(SystemClock))
    }

    /// The Admin that can create users (hashing at the configured Argon2 cost).
    pub fn admin_with_hasher(&self) -> anyhow::Result<Admin> {
        Ok(self
            .admin()
            .with_hasher(PasswordHasher::new(self.config.argon2)?))
    }

    /// The Admin that can rotate signing keys: the root secret is resolved here, so a missing
    /// one refuses the command before anything changes.
    /// (With it, users' TOTP keys, sealed under the same secret, move with `keys reseal`.)
    pub fn admin_with_keys(&self) -> anyhow::Result<Admin> {
        let secrets = resolve_secrets(self.config)?;
        let keys = key_manager(&secrets, self.db.store(), Arc::new(SystemClock))?;
        Ok(self.admin_with_factors_of(&secrets)?.with_keys(keys))
    }

    /// The Admin that can enrol second factors, sealed under the root secret (resolved here:
    /// a missing one refuses the command before anything changes).
    pub fn admin_with_factors(&self) -> anyhow::Result<Admin> {
        self.admin_with_factors_of(&resolve_secrets(self.config)?)
    }

    fn admin_with_factors_of(&self, secrets: &Secrets) -> anyhow::Result<Admin> {
        let factors = second_factors(
            secrets,
            self.db.store(),
            Arc::new(SystemClock),
            &self.config.issuer,
        )?;
        Ok(self.admin().with_factors(Arc::new(factors)))
    }

    /// Prints the command's result, unless one of its audit events could not be written (then
    /// the command fails instead).
    pub fn print(&self, value: &impl Serialize) -> anyhow::Result<()> {
        self.audit.check()?;
        print_json(value)
    }
}
