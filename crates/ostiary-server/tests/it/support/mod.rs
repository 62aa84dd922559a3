//! Shared helpers, split by concern and re-exported here so tests name them `support::NAME`:
//! the app under test and its serving (`app`), the CLI runner (`cli`), the browser and its
//! HTML pages (`browser`), OAuth request helpers (`oauth`), the registered clients and users
//! (`fixtures`), what key-holding clients sign (`jose`), the server as a child process
//! (`process`), a server of client ID metadata documents (`documents`), and certificates and
//! clients for TLS (`tls`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up fails loudly

mod app;
mod browser;
mod cli;
mod documents;
mod fixtures;
mod jose;
mod oauth;
mod process;
mod tls;

pub use app::*;
pub use browser::*;
pub use cli::*;
pub use documents::*;
pub use fixtures::*;
pub use jose::*;
pub use oauth::*;
pub use process::*;
pub use tls::*;
