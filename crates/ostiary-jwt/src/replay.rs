//! A bounded in-memory record of the DPoP proofs a resource server accepted, so that each
//! proof is accepted once (RFC 9449 section 11.1).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use aws_lc_rs::digest::{SHA256, digest};

/// Why a proof could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The same key already presented this `jti`, and that record has not expired.
    Replayed,
    /// `capacity` unexpired records are held; the oldest expires in `retry_after` seconds.
    Full { retry_after: u64 },
}

/// Records (key thumbprint, `jti`) pairs for `window` seconds, at most `capacity` at a time.
///
/// When full of unexpired records it refuses new proofs instead of growing (memory would then
/// be the attacker's to spend) or dropping a live record (whoever can fill the cache could then
/// flush a captured proof out of it and replay it). Refusing costs availability for DPoP
/// requests until the oldest record expires, never the replay guarantee; and only requests
/// that passed every other check reach the cache, so filling it takes a valid bound token and
/// its private key.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    capacity: usize,
    window: i64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// SHA-256 of the pair, so an entry is 32 bytes however long the `jti` (RFC 9449 11.1
    /// suggests storing a hash), and its expiry in Unix seconds.
    live: HashMap<[u8; 32], i64>,
    /// The same entries in the order recorded. Expiries are `now + window` with `now` not
    /// decreasing (a clock stepped back aside), so the expired ones are at the front.
    order: VecDeque<(i64, [u8; 32])>,
    /// Whether the current stretch of refusals for lack of room was logged already.
    full_logged: bool,
}

impl ReplayCache {
    /// A cache for at most `capacity` records (at least one), each kept `window` seconds.
    pub(crate) fn new(capacity: usize, window: i64) -> Self {
        Self {
            capacity: capacity.max(1),
            window,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records that key `jkt` presented `jti` at `now` (Unix seconds), unless it did so
    /// within the window already, or the cache holds `capacity` unexpired records.
    pub(crate) fn record(&self, jkt: &str, jti: &str, now: i64) -> Result<(), Refusal> {
        let key = fingerprint(jkt, jti);
        // A poisoned lock only means another request panicked mid-update; the map and the
        // queue are each valid on their own, and the worst mismatch keeps a record longer.
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.evict_expired(now);
        if inner.live.contains_key(&key) {
            return Err(Refusal::Replayed);
        }
        if inner.live.len() >= self.capacity {
            let oldest = inner.order.front().map_or(now, |(expires, _)| *expires);
            if !inner.full_logged {
                inner.full_logged = true;
                tracing::warn!(
                    capacity = self.capacity,
                    "the DPoP replay cache is full: DPoP requests are refused until records expire"
                );
            }
            return Err(Refusal::Full {
                retry_after: u64::try_from(oldest.saturating_sub(now)).unwrap_or(0) + 1,
            });
        }
        inner.full_logged = false;
        let expires = now.saturating_add(self.window);
        inner.live.insert(key, expires);
        inner.order.push_back((expires, key));
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .live
            .len()
    }
}

impl Inner {
    /// Drops the records whose window ended before `now`: amortised constant time, since each
    /// record is dropped once.
    fn evict_expired(&mut self, now: i64) {
        while let Some(&(expires, key)) = self.order.front() {
            if expires >= now {
                break;
            }
            self.order.pop_front();
            self.live.remove(&key);
        }
    }
}

/// The thumbprint is base64url and never contains NUL, so the separator makes the pair
/// unambiguous: one key's `jti` cannot stand for another key's.
fn fingerprint(jkt: &str, jti: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(jkt.len() + 1 + jti.len());
    input.extend_from_slice(jkt.as_bytes());
    input.push(0);
    input.extend_from_slice(jti.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, &input).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_accepted_once_per_key_within_the_window() {
        let cache = ReplayCache::new(10, 120);
        assert_eq!(cache.record("key-a", "j1", 1000), Ok(()));
        assert_eq!(cache.record("key-a", "j1", 1119), Err(Refusal::Replayed));
        assert_eq!(cache.record("key-a", "j1", 1120), Err(Refusal::Replayed));
        // Another key may use the same jti: it cannot block or stand for the first key's.
        assert_eq!(cache.record("key-b", "j1", 1000), Ok(()));
        // Once the window has passed the record is gone (the proof is stale by then anyway).
        assert_eq!(cache.record("key-a", "j1", 1121), Ok(()));
    }

    #[test]
    fn a_full_cache_refuses_instead_of_growing_or_forgetting_live_records() {
        let cache = ReplayCache::new(2, 120);
        assert_eq!(cache.record("k", "j1", 1000), Ok(()));
        assert_eq!(cache.record("k", "j2", 1010), Ok(()));
        assert_eq!(
            cache.record("k", "j3", 1020),
            Err(Refusal::Full { retry_after: 101 })
        );
        assert_eq!(cache.len(), 2);
        // The live records still stop replays while the cache is full.
        assert_eq!(cache.record("k", "j1", 1020), Err(Refusal::Replayed));
        assert_eq!(cache.record("k", "j2", 1020), Err(Refusal::Replayed));
        // The oldest record expires, which makes room for one more.
        assert_eq!(cache.record("k", "j3", 1121), Ok(()));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.record("k", "j2", 1121), Err(Refusal::Replayed));
    }

    #[test]
    fn the_pair_is_recorded_unambiguously() {
        assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
        assert_eq!(fingerprint("ab", "c"), fingerprint("ab", "c"));
    }
}
