//! The `ostiary` command line: `serve` and the admin commands of docs/contract.md.
//!
//! Admin commands print JSON on stdout; errors go to stderr with exit code 1 (usage errors
//! included, so scripts need to check one code).

mod audit;
mod client;
mod client_update;
mod context;
mod healthcheck;
mod keys;
mod output;
mod registration_token;
mod tokens;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ostiary_store::Database;

use self::context::AdminContext;
use crate::config::{Config, Status, render_reference, resolve_secrets, run_checks};
use crate::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "ostiary",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("OSTIARY_COMMIT"), ")"),
    about = "OAuth 2.1 and OpenID Connect authorization server"
)]
pub struct Cli {
    /// TOML configuration file; OAUTH2_* environment variables override it.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Log line format on stderr (also OAUTH2_LOG_FORMAT).
    #[arg(long, global = true, value_enum, env = "OAUTH2_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (applies migrations first).
    Serve {
        /// Do not apply migrations at startup.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply the embedded database migrations.
    Migrate,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Incident response on issued tokens.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Initial access tokens for dynamic client registration (RFC 7591).
    #[command(subcommand)]
    RegistrationToken(registration_token::RegistrationTokenCommand),
    /// Run the backend-for-frontend for single-page apps: its own listener and settings,
    /// read from the file given by --config (docs/guides/bff.md).
    Bff {
        /// Print the public JWK set of client_private_key_file (to register the BFF's client
        /// with `client create --jwks`) and exit.
        #[arg(long)]
        print_jwks: bool,
    },
    /// Run the startup checks (production checklist) without starting.
    CheckConfig,
    /// Print the configuration reference (Markdown) to stdout: every setting with its
    /// values and default (docs/configuration.md is this output).
    ConfigReference,
    /// Ask a running server's /readyz and exit 0 only if it answers ready (a container
    /// health check); prints {"url", "status", "ready"}.
    Healthcheck {
        /// The URL to ask; default: /readyz on OAUTH2_BIND (on loopback when it is
        /// 0.0.0.0 or [::]).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Print a completion script for SHELL to stdout (e.g. `ostiary completions bash >
    /// /etc/bash_completion.d/ostiary`).
    Completions {
        /// bash, elvish, fish, powershell or zsh.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout (e.g. `ostiary man > ostiary.1`).
    Man,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let default_level = match cli.command {
        Command::Serve { .. } | Command::Bff { print_jwks: false } => "info",
        _ => "warn",
    };
    let _log_writer = telemetry::init(cli.log_format, default_level);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(code) => code,
        Err(e) => {
            // Buffered log lines first, so the error is the last thing printed.
            drop(_log_writer);
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Generated from the command tree or the settings table alone: no configuration needed.
    match &cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "ostiary", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command)
                .render(&mut std::io::stdout())
                .context("writing the manual page")?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::ConfigReference => {
            output::print_raw(&render_reference())?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Healthcheck { url: Some(url) } => return healthcheck::run(url, false).await,
        Command::Bff { print_jwks } => {
            let path = cli
                .config
                .as_deref()
                .context("ostiary bff needs its settings file: --config PATH")?;
            let config = crate::bff::config::BffConfig::load(path)?;
            if *print_jwks {
                output::print_raw(&crate::bff::client_jwks(&config)?)?;
            } else {
                crate::bff::run(config).await?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Completions { .. }
        | Command::Man
        | Command::ConfigReference
        | Command::Bff { .. }
        | Command::Healthcheck { url: Some(_) } => {}
        Command::Healthcheck { url: None } => {
            let url = healthcheck::ready_url(config.bind, config.tls.is_some());
            return healthcheck::run(&url, true).await;
        }
        Command::Serve { no_migrate } => {
            let checks = run_checks(&config);
            for check in &checks {
                match check.status {
                    Status::Fail => tracing::error!(check = check.name, "{}", check.message),
                    Status::Warn => tracing::warn!(check = check.name, "{}", check.message),
                    Status::Pass => {}
                }
            }
            if let Some(failed) = checks.iter().find(|c| c.status == Status::Fail) {
                anyhow::bail!("refusing to start: {}", failed.message);
            }
            let secrets = resolve_secrets(&config)?;
            crate::serve::serve(config, secrets, !no_migrate).await?;
        }
        Command::Migrate => {
            open_database(&config).await?;
            output::print_json(&serde_json::json!({ "migrated": true }))?;
        }
        Command::Client(command) => {
            client::run(command, &AdminContext::open(&config).await?).await?
        }
        Command::User(command) => user::run(command, &AdminContext::open(&config).await?).await?,
        Command::Keys(command) => keys::run(command, &AdminContext::open(&config).await?).await?,
        Command::Audit(command) => audit::run(command, &AdminContext::open(&config).await?).await?,
        Command::Tokens(command) => {
            tokens::run(command, &AdminContext::open(&config).await?).await?
        }
        Command::RegistrationToken(command) => {
            registration_token::run(command, &AdminContext::open(&config).await?).await?
        }
        Command::CheckConfig => {
            let checks = run_checks(&config);
            let ok = checks.iter().all(|c| c.status != Status::Fail);
            output::print_json(&serde_json::json!({ "ok": ok, "checks": checks }))?;
            if !ok {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Admin commands migrate too, so a fresh database works without a separate step.
async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let database = Database::open(config.database_url(), 2).await?;
    database.migrate().await?;
    Ok(database)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command and every flag of every command says what it is for in `--help`, and
    /// positional values too.
    #[test]
    fn every_command_and_flag_is_described() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "ostiary", &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:#?}");
    }
}
