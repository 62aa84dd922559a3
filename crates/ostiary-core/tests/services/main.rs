//! Core's protocol services tested on their own, without HTTP: the token service over a fresh
//! SQLite database and a manual clock. One test binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod interactions;
mod support;
mod tokens;
