//! Core's services tested on their own, without HTTP: over a fresh SQLite database and a
//! manual clock. One test binary, one module per service.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod admin;
mod documents;
mod interactions;
mod second_factors;
mod support;
mod tokens;
