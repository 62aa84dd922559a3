//! ostiary-jwt's integration tests in one binary: each extra test binary would link the crate
//! and its dev-dependencies again.

mod attacks;
mod known_answers;
mod remote;
mod validator;
