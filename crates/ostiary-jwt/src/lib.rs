//! JOSE for Ostiary: signing keys, JWKS, signing, and strict RFC 8725 validation.
//!
//! No HTTP server and no database here: resource servers can depend on this crate alone to
//! validate Ostiary's tokens with the same rules the server applies to itself.
//!
//! - Validating: a [`Validator`] is built from the decisions RFC 8725 leaves to the caller (the
//!   kind of token as a [`Profile`], the issuer, the audience, a [`KeySet`]) and checks size,
//!   header, key, signature and claims, returning [`Claims`] or the first
//!   [`ValidationError`]. Times are Unix seconds throughout.
//! - Keys: [`VerifyingKey`]s come from a published [`JwkSet`] ([`KeySet::from_jwks`]); each is
//!   bound to one [`Algorithm`] (ES256, RS256, EdDSA; HS256 only for secrets the operator
//!   shares). The token header never picks a key by URL and `alg: none` does not parse.
//! - Signing (the server's side): [`SigningKey`], [`encode`], and [`KeySealer`] for keys at
//!   rest. [`DpopValidator`] checks RFC 9449 proofs.
//!
//! Features: `remote` adds `remote::RemoteValidator`, which fetches and refreshes the issuer's
//! JWKS and, given a `remote::DpopConfig`, checks DPoP-bound requests (RFC 9449 section 7:
//! token, proof, key binding, replay); `axum` adds `bearer::BearerClaims`, an extractor that
//! answers as RFC 6750 says, and accepts the DPoP scheme too when the validator is configured
//! for it (see the `resource_server` example). `remote` also adds
//! `protected_resource::ProtectedResourceMetadata`, the RFC 9728 document a resource server
//! publishes about itself; with `axum` it comes with a router serving it at its well-known
//! path, and the extractor's challenges name it (`resource_metadata`, RFC 9728 section 5.1).
#![warn(missing_docs)]

mod alg;
mod b64;
#[cfg(feature = "axum")]
pub mod bearer;
mod dpop;
mod encode;
mod header;
mod htu;
mod jwk;
#[cfg(feature = "remote")]
pub mod protected_resource;
#[cfg(feature = "remote")]
pub mod remote;
#[cfg(feature = "remote")]
mod replay;
#[cfg(feature = "remote")]
mod resource_dpop;
mod sealing;
mod signing_key;
pub mod strict_json;
mod validate;
mod verifying_key;

pub use alg::Algorithm;
pub use dpop::{DpopProof, DpopValidator};
pub use encode::{encode, encode_with_jwk};
pub use jwk::{Jwk, JwkSet};
pub use sealing::{KeySealer, SealError, derive_subkey};
pub use signing_key::{KeyError, SigningKey};
pub use validate::{
    Claims, DEFAULT_MAX_TOKEN_LEN, MAX_LEEWAY_SECS, Profile, ValidationError, Validator,
};
pub use verifying_key::{KeySet, VerifyingKey};
