//! Brute-force defence: failed authentications are counted per source address, per
//! (credential, source) pair and per credential, and a key that failed too often is refused
//! for a growing while. Successes are never counted: limits stop guessing, not use
//! (docs/contract.md). State is in memory, per instance.
//!
//! The lock that a legitimate user meets is the one on their own address or their own
//! (account, address) pair; the per-account lock across all addresses has a much higher
//! threshold and a short cap, so an attacker elsewhere cannot keep a user out for long, and
//! clients have none at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// When a key locks, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Failures inside `window` before the first lock.
    pub threshold: u32,
    /// The first lock; each further failure doubles it, up to `max_lock`.
    pub base_lock: Duration,
    pub max_lock: Duration,
    /// Failures older than this (since the last one) are forgotten.
    pub window: Duration,
}

/// What failed: decides which rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential<'a> {
    Client(&'a str),
    Account(&'a str),
    /// An account on a browser that has logged into it before: the account-wide lock (which
    /// an attacker elsewhere could keep renewing) does not apply to its owner.
    KnownAccount(&'a str),
    /// A user code typed at the device verification page (RFC 8628 5.1): a wrong one is a
    /// guess at someone's pending device authorization. Limited per source only.
    UserCode,
    /// An initial access token presented at the registration endpoint (RFC 7591 3): 256
    /// random bits, so a wrong one is a mistake or probing. Limited per source only.
    RegistrationToken,
    /// A client registered without an initial access token (`OAUTH2_REGISTRATION=open`):
    /// not a failure, but each one stores a client, so a source gets a budget of them.
    OpenRegistration,
}

impl<'a> Credential<'a> {
    /// The kind and the identifier as a bounded key: anything not shaped like a client id or
    /// username shares one key, so hostile input cannot grow the map by its size.
    fn key(self) -> (Kind, &'a str, bool) {
        let (kind, id, account_wide) = match self {
            Self::Client(id) => (Kind::Client, id, true),
            Self::Account(id) => (Kind::Account, id, true),
            Self::KnownAccount(id) => (Kind::Account, id, false),
            Self::UserCode => (Kind::UserCode, "user_code", false),
            Self::RegistrationToken => (Kind::Registration, "initial_access_token", false),
            Self::OpenRegistration => (Kind::OpenRegistration, "open_registration", false),
        };
        let plausible = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~@+".contains(&b));
        (kind, if plausible { id } else { "<invalid>" }, account_wide)
    }
}

/// Sources are addresses, except that an IPv6 address counts as its /64: one subscriber
/// usually holds a whole /64, and must not get 2^64 fresh sources.
fn source(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Source(Kind, IpAddr),
    Pair(Kind, String, IpAddr),
    Credential(Kind, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Client,
    Account,
    UserCode,
    Registration,
    OpenRegistration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

/// The limits for one kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_source: Rule,
    pub per_pair: Rule,
    /// Across all sources. None for clients: a client that authenticates correctly is never
    /// refused because someone elsewhere guessed at its secret.
    pub per_credential: Option<Rule>,
}

impl Limits {
    /// Login: 5 wrong passwords for one account from one address, 20 from one address, 100
    /// for one account from anywhere (then at most 5 minutes).
    pub const LOGIN: Self = Self {
        per_pair: Rule {
            threshold: 5,
            base_lock: Duration::from_secs(2),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_source: Rule {
            threshold: 20,
            base_lock: Duration::from_secs(5),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_credential: Some(Rule {
            threshold: 100,
            base_lock: Duration::from_secs(5),
            max_lock: Duration::from_secs(5 * 60),
            window: Duration::from_secs(15 * 60),
        }),
    };

    /// Client authentication: client secrets are 256 random bits, so failures are mistakes or
    /// probing; the thresholds are generous, the locks the same shape, and only sources lock.
    pub const CLIENT: Self = Self {
        per_pair: Rule {
            threshold: 10,
            base_lock: Duration::from_secs(2),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_source: Rule {
            threshold: 30,
            base_lock: Duration::from_secs(5),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_credential: None,
    };

    /// User codes: 10 wrong codes from one address lock it for 30 seconds, doubling up to 15
    /// minutes. With codes drawn from 20^8 and living 10 minutes, a source gets a few dozen
    /// guesses an hour against every pending code at once.
    pub const USER_CODE: Self = Self {
        per_pair: Rule {
            threshold: 10,
            base_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_source: Rule {
            threshold: 10,
            base_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_credential: None,
    };
}

impl Limits {
    /// Open registration: 20 clients from one address within an hour, then a minute's
    /// wait, doubling up to an hour.
    pub const OPEN_REGISTRATION: Self = Self {
        per_pair: Rule {
            threshold: 20,
            base_lock: Duration::from_secs(60),
            max_lock: Duration::from_secs(3600),
            window: Duration::from_secs(3600),
        },
        per_source: Rule {
            threshold: 20,
            base_lock: Duration::from_secs(60),
            max_lock: Duration::from_secs(3600),
            window: Duration::from_secs(3600),
        },
        per_credential: None,
    };
}

/// Beyond this many tracked keys, stale ones are dropped first, then everything unlocked:
/// memory stays bounded under a flood of addresses.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct FailureLimiter {
    enabled: bool,
    entries: Mutex<HashMap<Key, Entry>>,
    /// Lets the common case (nothing ever failed recently) skip the lock entirely.
    tracked: AtomicUsize,
}

impl FailureLimiter {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            entries: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
        }
    }

    fn keys(credential: Credential<'_>, from: Option<IpAddr>) -> Vec<(Key, Rule)> {
        let (kind, id, account_wide) = credential.key();
        let mut keys = Vec::with_capacity(3);
        let limits = match kind {
            Kind::Client | Kind::Registration => Limits::CLIENT,
            Kind::Account => Limits::LOGIN,
            Kind::UserCode => Limits::USER_CODE,
            Kind::OpenRegistration => Limits::OPEN_REGISTRATION,
        };
        if let Some(ip) = from.map(source) {
            keys.push((Key::Source(kind, ip), limits.per_source));
            keys.push((Key::Pair(kind, id.to_owned(), ip), limits.per_pair));
        }
        if let Some(rule) = limits.per_credential.filter(|_| account_wide) {
            keys.push((Key::Credential(kind, id.to_owned()), rule));
        }
        keys
    }

    /// How long the caller must wait before this credential may be tried from this source;
    /// `None` when it may be tried now.
    pub fn retry_after(
        &self,
        credential: Credential<'_>,
        source: Option<IpAddr>,
    ) -> Option<Duration> {
        if !self.enabled || self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let keys = Self::keys(credential, source);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|(key, _)| entries.get(key)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failure; the lock it caused, if any.
    pub fn failed(&self, credential: Credential<'_>, source: Option<IpAddr>) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        let now = Instant::now();
        let keys = Self::keys(credential, source);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_KEYS {
            prune(&mut entries, now);
        }
        let mut longest: Option<Duration> = None;
        for (key, rule) in keys {
            let entry = entries.entry(key).or_insert(Entry {
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
            if entry.failures >= rule.threshold {
                let doublings = (entry.failures - rule.threshold).min(20);
                let lock = rule
                    .base_lock
                    .saturating_mul(1 << doublings)
                    .min(rule.max_lock);
                entry.locked_until = Some(now + lock);
                longest = Some(longest.map_or(lock, |l| l.max(lock)));
            }
        }
        self.tracked.store(entries.len(), Ordering::Relaxed);
        longest
    }

    /// A success forgets the failures of this credential from this source (not those of the
    /// source or of the credential elsewhere).
    pub fn succeeded(&self, credential: Credential<'_>, from: Option<IpAddr>) {
        if !self.enabled || self.tracked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let (kind, id, _) = credential.key();
        if let Some(ip) = from.map(source) {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.remove(&Key::Pair(kind, id.to_owned(), ip));
            self.tracked.store(entries.len(), Ordering::Relaxed);
        }
    }

    /// Drops entries whose failures are forgotten and whose lock has passed.
    pub fn prune_expired(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut entries, Instant::now());
        self.tracked.store(entries.len(), Ordering::Relaxed);
    }
}

fn prune(entries: &mut HashMap<Key, Entry>, now: Instant) {
    let stale = Duration::from_secs(15 * 60);
    entries.retain(|_, e| {
        e.locked_until.is_some_and(|u| u > now) || now.duration_since(e.last_failure) <= stale
    });
    if entries.len() >= MAX_KEYS {
        entries.retain(|_, e| e.locked_until.is_some_and(|u| u > now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn an_account_locks_for_one_source_only() {
        let limiter = FailureLimiter::new(true);
        let alice = Credential::Account("alice");
        for _ in 0..4 {
            assert_eq!(limiter.failed(alice, ip(1)), None);
        }
        assert!(limiter.failed(alice, ip(1)).is_some());
        assert!(limiter.retry_after(alice, ip(1)).is_some());
        assert_eq!(
            limiter.retry_after(alice, ip(2)),
            None,
            "another address is not locked"
        );
    }

    #[test]
    fn locks_grow_and_stay_capped() {
        let limiter = FailureLimiter::new(true);
        let bob = Credential::Account("bob");
        let mut locks = Vec::new();
        for _ in 0..40 {
            if let Some(lock) = limiter.failed(bob, ip(3)) {
                locks.push(lock);
            }
        }
        assert!(locks.windows(2).all(|w| w[0] <= w[1]), "{locks:?}");
        assert!(locks[1] > locks[0]);
        assert!(*locks.last().unwrap() <= Duration::from_secs(15 * 60));
    }

    #[test]
    fn a_source_locks_across_accounts_and_success_does_not_unlock_it() {
        let limiter = FailureLimiter::new(true);
        for i in 0..20 {
            let name = format!("user{i}");
            limiter.failed(Credential::Account(&name), ip(4));
        }
        assert!(
            limiter
                .retry_after(Credential::Account("fresh"), ip(4))
                .is_some()
        );
        limiter.succeeded(Credential::Account("fresh"), ip(4));
        assert!(
            limiter
                .retry_after(Credential::Account("fresh"), ip(4))
                .is_some()
        );
        assert_eq!(
            limiter.retry_after(Credential::Client("fresh"), ip(4)),
            None
        );
    }

    #[test]
    fn a_known_browser_is_spared_the_account_wide_lock() {
        let limiter = FailureLimiter::new(true);
        for i in 0..100u8 {
            limiter.failed(Credential::Account("carol"), ip(i));
        }
        assert!(
            limiter
                .retry_after(Credential::Account("carol"), ip(200))
                .is_some()
        );
        assert_eq!(
            limiter.retry_after(Credential::KnownAccount("carol"), ip(200)),
            None
        );
    }

    #[test]
    fn hostile_identifiers_share_one_key_and_ipv6_counts_per_64() {
        let limiter = FailureLimiter::new(true);
        let huge = "x".repeat(100_000);
        for _ in 0..10 {
            limiter.failed(Credential::Client(&huge), ip(9));
        }
        assert!(
            limiter
                .retry_after(Credential::Client("<bad id>"), ip(9))
                .is_some()
        );
        assert!(limiter.entries.lock().unwrap().keys().all(|k| match k {
            Key::Pair(_, id, _) | Key::Credential(_, id) => id.len() < 20,
            Key::Source(..) => true,
        }));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        for _ in 0..10 {
            limiter.failed(Credential::Client("svc"), Some(a));
        }
        assert!(
            limiter
                .retry_after(Credential::Client("svc"), Some(b))
                .is_some()
        );
    }

    #[test]
    fn disabled_limiter_never_locks() {
        let limiter = FailureLimiter::new(false);
        for _ in 0..50 {
            assert_eq!(limiter.failed(Credential::Client("c"), ip(5)), None);
        }
        assert_eq!(limiter.retry_after(Credential::Client("c"), ip(5)), None);
    }
}
