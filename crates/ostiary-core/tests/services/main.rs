//! Tests of core's services over a real store (a fresh SQLite file per test), one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod admin;
