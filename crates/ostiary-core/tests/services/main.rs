//! Core's protocol services tested on their own, without HTTP: the token service over a fresh
//! SQLite database and a manual clock. One test binary, one module per area.

mod interactions;
mod support;
mod tokens;
