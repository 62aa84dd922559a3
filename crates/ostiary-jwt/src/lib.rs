//! JOSE for Ostiary: signing keys, JWKS, signing, and strict RFC 8725 validation.
//!
//! No HTTP server and no database here: resource servers can depend on this crate alone to
//! validate Ostiary's tokens with the same rules the server applies to itself.

mod alg;
mod b64;
#[cfg(feature = "axum")]
pub mod bearer;
mod dpop;
mod encode;
mod header;
mod jwk;
#[cfg(feature = "remote")]
pub mod remote;
mod sealing;
mod signing_key;
mod strict_json;
mod validate;
mod verifying_key;

pub use alg::Algorithm;
pub use dpop::{DpopProof, DpopValidator};
pub use encode::encode;
pub use jwk::{Jwk, JwkSet};
pub use sealing::{KeySealer, SealError, derive_subkey};
pub use signing_key::{KeyError, SigningKey};
pub use validate::{Claims, MAX_LEEWAY_SECS, Profile, ValidationError, Validator};
pub use verifying_key::{KeySet, VerifyingKey};
