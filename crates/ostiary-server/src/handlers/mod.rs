//! One file per endpoint. A handler extracts typed input, calls one core function and maps
//! the result.

pub mod fallback;
pub mod health;
