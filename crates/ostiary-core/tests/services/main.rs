//! Tests of core's services over a real store (in-memory SQLite), one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod admin;
