//! Brute-force defence: failed authentications are counted per source address, per
//! (credential, source) pair and per credential, and a key that failed too often is refused
//! for a growing while. Successes are never counted: limits stop guessing, not use
//! (docs/contract.md).
//!
//! The lock that a legitimate user meets is the one on their own address or their own
//! (account, address) pair; the per-account lock across all addresses has a much higher
//! threshold and a short cap, so an attacker elsewhere cannot keep a user out for long, and
//! clients have none at all.
//!
//! Each instance keeps the counters in memory, and answers "is this locked?" from memory.
//! Where several instances share the database (PostgreSQL), failures are also counted there,
//! atomically across instances, and every change is announced to every instance, whose memory
//! then mirrors the shared counters: guesses spread over N instances lock as they would on
//! one. Only failures, and a success after failures, write; a client that authenticates
//! correctly with nothing to forget reads nothing either. Should the database fail, the counters in memory still hold.

mod rules;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ostiary_core::Store;
use ostiary_core::changes::{FailureCount, FailureCountStore};

use crate::telemetry::error_chain;
pub use rules::{Credential, Limits, Rule};
use rules::{keys, pair_key};

/// Beyond this many tracked keys, stale ones are dropped first, then everything unlocked:
/// memory stays bounded under a flood of addresses.
const MAX_KEYS: usize = 100_000;

/// Counters with no failure for this long are forgotten (the longest window of any rule).
const STALE: Duration = Duration::from_secs(60 * 60);

/// The most shared counters read back after missed announcements (locks first, then the
/// latest failures): all instances do it at once after a database blip.
const RESYNC_AT_MOST: u32 = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug)]
pub struct FailureLimiter {
    enabled: bool,
    entries: Mutex<HashMap<String, Entry>>,
    /// Lets the common case (nothing ever failed recently) skip the lock entirely.
    tracked: AtomicUsize,
    /// The database whose shared counters this limiter mirrors, if it has them.
    shared: Option<Arc<dyn Store>>,
}

impl FailureLimiter {
    /// A limiter in memory only (one instance).
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            entries: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
            shared: None,
        }
    }

    /// A limiter that also counts in `store`'s shared counters when it has them.
    pub fn shared_through(enabled: bool, store: Arc<dyn Store>) -> Self {
        let shared = store.shared_failures().is_some().then_some(store);
        Self {
            shared,
            ..Self::new(enabled)
        }
    }

    /// The shared counters, where the database has them.
    fn shared(&self) -> Option<&dyn FailureCountStore> {
        self.shared.as_ref()?.shared_failures()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the caller must wait before this credential may be tried from this source;
    /// `None` when it may be tried now. Where counters are shared, a lock not (yet) in memory
    /// is looked up in the database too, so a lock another instance set a moment ago holds
    /// here before its announcement arrives. Callers ask before a login, a user code or a
    /// registration, and after a failed client authentication: never on the path of a
    /// client that authenticates correctly.
    pub async fn retry_after(
        &self,
        credential: Credential<'_>,
        source: Option<IpAddr>,
    ) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        let keys = keys(credential, source);
        let local = self.locked_among(&keys);
        if local.is_some() {
            return local;
        }
        let shared = self.shared()?;
        let names: Vec<String> = keys.into_iter().map(|(key, _)| key).collect();
        let now = unix_millis();
        match shared.locked_until(&names, now).await {
            Ok(until) => until.map(|until| millis(until - now)),
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "reading the shared failure locks failed");
                None
            }
        }
    }

    /// How long this credential is locked from this source by what this instance holds in
    /// memory, without asking the database.
    pub fn locked_in_memory(
        &self,
        credential: Credential<'_>,
        source: Option<IpAddr>,
    ) -> Option<Duration> {
        self.locked_among(&keys(credential, source))
    }

    fn locked_among(&self, keys: &[(String, Rule)]) -> Option<Duration> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let entries = self.entries();
        keys.iter()
            .filter_map(|(key, _)| entries.get(key)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failure; the lock it caused, if any.
    pub async fn failed(
        &self,
        credential: Credential<'_>,
        source: Option<IpAddr>,
    ) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        let keys = keys(credential, source);
        let local = self.count_in_memory(&keys);
        let Some(shared) = self.shared() else {
            return local;
        };
        let now = unix_millis();
        let windows: Vec<(String, i64)> = keys
            .iter()
            .map(|(key, rule)| (key.clone(), as_millis(rule.window)))
            .collect();
        let counts = match shared.count_failures(&windows, now).await {
            Ok(counts) => counts,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "counting a failure in the shared store failed; counting in memory only");
                return local;
            }
        };
        let mut longest = local;
        for (mut count, (_, rule)) in counts.into_iter().zip(&keys) {
            if let Some(lock) = rule.lock_for(count.failures) {
                let until = now.saturating_add(as_millis(lock));
                if count.locked_until.is_none_or(|held| held < until) {
                    if let Err(e) = shared.lock_failures(&count.key, until).await {
                        tracing::warn!(error = %error_chain(&e), "storing a shared lock failed");
                    }
                    count.locked_until = Some(until);
                }
                longest = longest.max(Some(lock));
            }
            self.mirror(&count);
        }
        longest
    }

    fn count_in_memory(&self, keys: &[(String, Rule)]) -> Option<Duration> {
        let now = Instant::now();
        let mut entries = self.entries();
        if entries.len() >= MAX_KEYS {
            prune(&mut entries, now);
        }
        let mut longest: Option<Duration> = None;
        for (key, rule) in keys {
            let entry = entries.entry(key.clone()).or_insert(Entry {
                failures: 0,
                last_failure: now,
                locked_until: None,
            });
            if now.duration_since(entry.last_failure) > rule.window {
                entry.failures = 0;
                entry.locked_until = None;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            if let Some(lock) = rule.lock_for(entry.failures) {
                entry.locked_until = Some(now + lock);
                longest = longest.max(Some(lock));
            }
        }
        self.tracked.store(entries.len(), Ordering::Relaxed);
        longest
    }

    /// A success forgets the failures of this credential from this source (not those of the
    /// source or of the credential elsewhere), on every instance. Writes only when there
    /// were such failures.
    pub async fn succeeded(&self, credential: Credential<'_>, from: Option<IpAddr>) {
        if !self.enabled || self.tracked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(ip) = from else { return };
        let key = pair_key(credential, ip);
        let known = {
            let mut entries = self.entries();
            let known = entries.remove(&key).is_some();
            self.tracked.store(entries.len(), Ordering::Relaxed);
            known
        };
        if let Some(shared) = self.shared()
            && known
            && let Err(e) = shared.forget_failures(&key).await
        {
            tracing::warn!(error = %error_chain(&e), "forgetting shared failures failed");
        }
    }

    /// Takes in a shared counter's state, announced by whichever instance changed it: the
    /// count and time as stored, and the later of the two locks (an announcement may arrive
    /// after this instance set a longer one). A count of zero was forgotten.
    pub fn mirror(&self, count: &FailureCount) {
        if !self.enabled {
            return;
        }
        let (now, unix_now) = (Instant::now(), unix_millis());
        let locked_until = count
            .locked_until
            .filter(|until| *until > unix_now)
            .map(|until| now + millis(until - unix_now));
        // A failure older than this host's monotonic clock can say is long forgotten.
        let last_failure = now.checked_sub(millis(unix_now - count.last_failure));
        let mut entries = self.entries();
        match last_failure {
            _ if count.failures == 0 => {
                entries.remove(&count.key);
            }
            None if locked_until.is_none() => {}
            // Memory stays bounded: at the cap, only locks are taken in (the shared store
            // still counts the rest, and the lookups before a login read it), and past a
            // tenth more not even those.
            _ if !entries.contains_key(&count.key)
                && (entries.len() >= MAX_KEYS + MAX_KEYS / 10
                    || (entries.len() >= MAX_KEYS && locked_until.is_none())) => {}
            last_failure => {
                let last_failure = last_failure.unwrap_or(now);
                let entry = entries.entry(count.key.clone()).or_insert(Entry {
                    failures: 0,
                    last_failure,
                    locked_until: None,
                });
                // Announcements may arrive out of order: an older one never lowers the count.
                entry.failures = if last_failure >= entry.last_failure {
                    count.failures
                } else {
                    entry.failures.max(count.failures)
                };
                entry.last_failure = entry.last_failure.max(last_failure);
                entry.locked_until = entry.locked_until.max(locked_until);
            }
        }
        self.tracked.store(entries.len(), Ordering::Relaxed);
    }

    /// Reads every recent shared counter into memory: at start, and after announcements may
    /// have been missed.
    pub async fn resync(&self) {
        let Some(shared) = self.shared() else {
            return;
        };
        match shared
            .recent_failures(unix_millis() - as_millis(STALE), RESYNC_AT_MOST)
            .await
        {
            Ok(counts) => counts.iter().for_each(|count| self.mirror(count)),
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "reading the shared failure counters failed")
            }
        }
    }

    /// Drops counters whose failures are forgotten and whose lock has passed, in memory and
    /// in the shared store.
    pub async fn prune_expired(&self) {
        {
            let mut entries = self.entries();
            prune(&mut entries, Instant::now());
            self.tracked.store(entries.len(), Ordering::Relaxed);
        }
        if let Some(shared) = self.shared()
            && let Err(e) = shared
                .purge_failures(unix_millis() - as_millis(STALE))
                .await
        {
            tracing::warn!(error = %error_chain(&e), "purging shared failure counters failed");
        }
    }
}

fn prune(entries: &mut HashMap<String, Entry>, now: Instant) {
    entries.retain(|_, e| {
        e.locked_until.is_some_and(|u| u > now) || now.duration_since(e.last_failure) <= STALE
    });
    if entries.len() >= MAX_KEYS {
        entries.retain(|_, e| e.locked_until.is_some_and(|u| u > now));
    }
}

/// Now as Unix milliseconds, the shared counters' time.
fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn as_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A span of milliseconds as a duration (negative spans are none).
fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[tokio::test]
    async fn an_account_locks_for_one_source_only() {
        let limiter = FailureLimiter::new(true);
        let alice = Credential::Account("alice");
        for _ in 0..4 {
            assert_eq!(limiter.failed(alice, ip(1)).await, None);
        }
        assert!(limiter.failed(alice, ip(1)).await.is_some());
        assert!(limiter.retry_after(alice, ip(1)).await.is_some());
        assert_eq!(
            limiter.retry_after(alice, ip(2)).await,
            None,
            "another address is not locked"
        );
    }

    #[tokio::test]
    async fn locks_grow_and_stay_capped() {
        let limiter = FailureLimiter::new(true);
        let bob = Credential::Account("bob");
        let mut locks = Vec::new();
        for _ in 0..40 {
            if let Some(lock) = limiter.failed(bob, ip(3)).await {
                locks.push(lock);
            }
        }
        assert!(locks.windows(2).all(|w| w[0] <= w[1]), "{locks:?}");
        assert!(locks[1] > locks[0]);
        assert!(*locks.last().unwrap() <= Duration::from_secs(15 * 60));
    }

    #[tokio::test]
    async fn a_source_locks_across_accounts_and_success_does_not_unlock_it() {
        let limiter = FailureLimiter::new(true);
        for i in 0..20 {
            let name = format!("user{i}");
            limiter.failed(Credential::Account(&name), ip(4)).await;
        }
        assert!(
            limiter
                .retry_after(Credential::Account("fresh"), ip(4))
                .await
                .is_some()
        );
        limiter.succeeded(Credential::Account("fresh"), ip(4)).await;
        assert!(
            limiter
                .retry_after(Credential::Account("fresh"), ip(4))
                .await
                .is_some()
        );
        assert_eq!(
            limiter
                .retry_after(Credential::Client("fresh"), ip(4))
                .await,
            None
        );
    }

    #[tokio::test]
    async fn a_known_browser_is_spared_the_account_wide_lock() {
        let limiter = FailureLimiter::new(true);
        for i in 0..100u8 {
            limiter.failed(Credential::Account("carol"), ip(i)).await;
        }
        assert!(
            limiter
                .retry_after(Credential::Account("carol"), ip(200))
                .await
                .is_some()
        );
        assert_eq!(
            limiter
                .retry_after(Credential::KnownAccount("carol"), ip(200))
                .await,
            None
        );
    }

    #[tokio::test]
    async fn hostile_identifiers_share_one_key_and_ipv6_counts_per_64() {
        let limiter = FailureLimiter::new(true);
        let huge = "x".repeat(100_000);
        for _ in 0..10 {
            limiter.failed(Credential::Client(&huge), ip(9)).await;
        }
        assert!(
            limiter
                .retry_after(Credential::Client("<bad id>"), ip(9))
                .await
                .is_some()
        );
        assert!(limiter.entries.lock().unwrap().keys().all(|k| k.len() < 40));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        for _ in 0..10 {
            limiter.failed(Credential::Client("svc"), Some(a)).await;
        }
        assert!(
            limiter
                .retry_after(Credential::Client("svc"), Some(b))
                .await
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_lock_announced_by_another_instance_holds_here_until_forgotten() {
        let limiter = FailureLimiter::new(true);
        let dave = Credential::Account("dave");
        let key = pair_key(dave, ip(7).unwrap());
        let now = unix_millis();
        let announced = |failures, locked_until| FailureCount {
            key: key.clone(),
            failures,
            last_failure: now,
            locked_until,
        };
        limiter.mirror(&announced(5, Some(now + 2_000)));
        let wait = limiter.retry_after(dave, ip(7)).await.expect("locked");
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        assert_eq!(limiter.retry_after(dave, ip(8)).await, None);
        // The announcement of the count before the lock, arriving late, keeps the lock.
        limiter.mirror(&announced(4, None));
        assert!(limiter.retry_after(dave, ip(7)).await.is_some());
        limiter.mirror(&FailureCount {
            key: key.clone(),
            failures: 0,
            last_failure: 0,
            locked_until: None,
        });
        assert_eq!(limiter.retry_after(dave, ip(7)).await, None);
        assert_eq!(limiter.entries.lock().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn identifiers_enter_the_keys_only_as_digests() {
        // What is typed as a username is sometimes a password; keys are stored and announced.
        let limiter = FailureLimiter::new(true);
        limiter
            .failed(Credential::Account("Tr0ub4dor-and-3"), ip(6))
            .await;
        let entries = limiter.entries.lock().unwrap();
        assert_eq!(entries.len(), 3);
        assert!(
            entries.keys().all(|k| !k.contains("Tr0ub4dor")),
            "{entries:?}"
        );
    }

    #[tokio::test]
    async fn disabled_limiter_never_locks() {
        let limiter = FailureLimiter::new(false);
        for _ in 0..50 {
            assert_eq!(limiter.failed(Credential::Client("c"), ip(5)).await, None);
        }
        assert_eq!(
            limiter.retry_after(Credential::Client("c"), ip(5)).await,
            None
        );
    }
}
