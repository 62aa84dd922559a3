//! Key sets fetched from a JWKS URL the caller configured (never one named by a token), for
//! resource servers. The set is refreshed when a token names an unknown `kid` or the set is
//! older than `max_age`, but never more often than `min_interval`, so a flood of tokens with
//! random `kid`s cannot turn into a flood of fetches.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::resource_dpop::DpopResource;
use crate::validate::{Claims, ValidationError, Validator};
use crate::{JwkSet, KeySet};

pub use crate::resource_dpop::{DpopConfig, DpopFailure, InvalidOrigin};

const MAX_JWKS_BYTES: usize = 256 * 1024;
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Why the first fetch of a key set failed (later refreshes that fail keep the current set).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The URL does not parse, or is not `https` (plain `http` only to loopback).
    #[error("JWKS URL must be https (http only for loopback): {0}")]
    InsecureUrl(String),
    /// The request failed, timed out (5 s), was redirected or answered with a non-2xx status.
    #[error("fetching the JWKS failed: {0}")]
    Fetch(String),
    /// The body is over 256 KiB or is not a JWK set (RFC 7517 section 5). Keys in a valid set
    /// that fail [`VerifyingKey::from_jwk`](crate::VerifyingKey::from_jwk) are skipped, not an
    /// error.
    #[error("the JWKS is not a valid JWK set: {0}")]
    Invalid(String),
}

/// A [`Validator`] whose key set is fetched from the issuer's `jwks_uri` and kept fresh: what a
/// resource server shares between requests (behind an `Arc`).
///
/// The set is refetched when it is older than five minutes, or when a token names an unknown
/// `kid` (the issuer may have rotated), at most once per refresh interval.
#[derive(Debug)]
pub struct RemoteValidator {
    url: String,
    http: reqwest::Client,
    current: RwLock<Arc<Validator>>,
    /// When the key set was last fetched; also serialises refreshes.
    fetched: tokio::sync::Mutex<Instant>,
    min_interval: Duration,
    max_age: Duration,
    /// Set by `with_dpop` (in `resource_dpop`): DPoP accepted besides Bearer.
    pub(crate) dpop: Option<DpopResource>,
    /// Set by `with_resource_metadata` (in `protected_resource`): the RFC 9728 metadata URL
    /// that the extractor's challenges name.
    pub(crate) resource_metadata: Option<Arc<str>>,
}

impl RemoteValidator {
    /// Fetches the key set once; `rules` carries profile, issuer, audience and algorithms (its
    /// own key set is replaced by the fetched one).
    pub async fn new(jwks_url: &str, rules: Validator) -> Result<Self, RemoteError> {
        let url =
            reqwest::Url::parse(jwks_url).map_err(|e| RemoteError::InsecureUrl(e.to_string()))?;
        if !is_allowed_url(&url) {
            return Err(RemoteError::InsecureUrl(jwks_url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| RemoteError::Fetch(e.to_string()))?;
        let keys = fetch(&http, jwks_url).await?;
        Ok(Self {
            url: jwks_url.to_owned(),
            http,
            current: RwLock::new(Arc::new(rules.with_keys(keys))),
            fetched: tokio::sync::Mutex::new(Instant::now()),
            min_interval: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
            dpop: None,
            resource_metadata: None,
        })
    }

    /// The least time between two fetches (default 30 s, never below 1 s).
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval.max(MIN_REFRESH_INTERVAL);
        self
    }

    /// Validates `token` at `now` (Unix seconds) as [`Validator::validate`] does, with the
    /// current key set, refreshing it first if it is stale or if the token names an unknown
    /// `kid`.
    pub async fn validate(&self, token: &str, now: i64) -> Result<Claims, ValidationError> {
        self.refresh_if_stale().await;
        match self.current().validate(token, now) {
            Err(ValidationError::UnknownKey) if self.refresh_for_unknown_kid().await => {
                self.current().validate(token, now)
            }
            result => result,
        }
    }

    fn current(&self) -> Arc<Validator> {
        let guard = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&guard)
    }

    /// A set older than `max_age` is refetched by whichever request finds it so; requests
    /// arriving meanwhile go on with the current set instead of waiting.
    async fn refresh_if_stale(&self) {
        let Ok(mut fetched) = self.fetched.try_lock() else {
            return;
        };
        if fetched.elapsed() >= self.max_age {
            self.fetch_into(&mut fetched).await;
        }
    }

    /// An unknown `kid` may mean the issuer rotated: fetch again, at most once per
    /// `min_interval`. Returns whether a new set was installed.
    async fn refresh_for_unknown_kid(&self) -> bool {
        let mut fetched = self.fetched.lock().await;
        if fetched.elapsed() < self.min_interval {
            return false;
        }
        self.fetch_into(&mut fetched).await
    }

    async fn fetch_into(&self, fetched: &mut Instant) -> bool {
        // Stamped first: a failing or slow issuer is asked again only after the interval.
        *fetched = Instant::now();
        match fetch(&self.http, &self.url).await {
            Ok(keys) => {
                let next = Arc::new(self.current().with_keys(keys));
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
                true
            }
            Err(e) => {
                // Keep the keys we have; the next window may succeed.
                tracing::warn!(url = %self.url, error = %e, "JWKS refresh failed");
                false
            }
        }
    }
}

/// `https`, or plain `http` to loopback only: for the JWKS URL (keys fetched in the clear could
/// be swapped on the way) and for a DPoP resource origin alike. The authorization server
/// applies it to clients' `jwks_uri` when they register.
pub fn is_allowed_url(url: &url::Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<KeySet, RemoteError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| RemoteError::Fetch(e.to_string()))?;
    if !response.status().is_success() {
        return Err(RemoteError::Fetch(format!("status {}", response.status())));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
    {
        return Err(RemoteError::Invalid("too large".into()));
    }
    // Read chunk by chunk: a body without a length must not grow past the limit either.
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| RemoteError::Fetch(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(RemoteError::Invalid("too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    let set: JwkSet =
        serde_json::from_slice(&body).map_err(|e| RemoteError::Invalid(e.to_string()))?;
    Ok(KeySet::from_jwks(&set))
}
