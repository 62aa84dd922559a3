//! Optional per-client quota on authenticated requests (`OAUTH2_CLIENT_QUOTA_PER_SEC`), off
//! by default: governor's GCRA per client, in memory. Where several instances share the
//! database, each allows its share (the quota divided by the instances counted on the
//! database, `share_among`), so a client spread over them by a load balancer gets the quota
//! in all, with no write or read on a request's path.

use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// `per_second` requests a second for each client, with bursts of at most that many: a
/// client never gets twice its quota across a second's boundary, as a fixed window allows.
#[derive(Debug)]
pub struct ClientQuota {
    per_second: u32,
    /// This instance's share and its limiter, replaced when the instance count changes.
    share: RwLock<Share>,
    clock: DefaultClock,
}

#[derive(Debug)]
struct Share {
    instances: u32,
    per_instance: u32,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl Share {
    fn new(per_second: u32, instances: u32) -> Self {
        let instances = instances.max(1);
        let per_instance = per_second.div_ceil(instances).max(1);
        let rate = NonZeroU32::new(per_instance).unwrap_or(NonZeroU32::MIN);
        Self {
            instances,
            per_instance,
            limiter: Arc::new(RateLimiter::keyed(Quota::per_second(rate))),
        }
    }
}

/// Beyond this many tracked clients, those back at a full allowance are dropped: only
/// authenticated clients are counted, so this bounds memory against a very large registry.
const MAX_CLIENTS: usize = 100_000;

impl ClientQuota {
    /// A quota of `per_second` (at least 1) requests a second per client, on one instance.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            share: RwLock::new(Share::new(per_second, 1)),
            clock: DefaultClock::default(),
        }
    }

    fn limiter(&self) -> Arc<DefaultKeyedRateLimiter<String>> {
        let share = self.share.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&share.limiter)
    }

    /// Counts one request of `client_id`; how long to wait when it is over its quota.
    pub fn check(&self, client_id: &str) -> Option<Duration> {
        let limiter = self.limiter();
        if limiter.len() >= MAX_CLIENTS {
            limiter.retain_recent();
        }
        match limiter.check_key(&client_id.to_owned()) {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(self.clock.now())),
        }
    }

    /// Allows this instance `1/instances` of the quota (rounded up, at least 1 a second).
    /// A change starts every client's allowance afresh; the same count changes nothing.
    pub fn share_among(&self, instances: u32) {
        let mut share = self.share.write().unwrap_or_else(|e| e.into_inner());
        if share.instances != instances.max(1) {
            *share = Share::new(self.per_second, instances);
            tracing::info!(
                instances = share.instances,
                per_instance = share.per_instance,
                "client quota shared among the instances"
            );
        }
    }

    /// The requests a second this instance allows each client (its share of the quota).
    pub fn per_instance(&self) -> u32 {
        self.share
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .per_instance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_quota_waits_and_clients_are_limited_apart() {
        let quota = ClientQuota::new(3);
        assert!((0..3).all(|_| quota.check("a").is_none()));
        let wait = quota.check("a").expect("limited");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(quota.check("b").is_none(), "clients are limited separately");
    }

    #[test]
    fn the_allowance_comes_back_at_the_rate() {
        // 10 a second: the burst takes microseconds, far less than the 100 ms in which one
        // request's allowance comes back, even on a loaded machine.
        let quota = ClientQuota::new(10);
        assert!((0..10).all(|_| quota.check("a").is_none()));
        let wait = quota.check("a").expect("over the quota");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        std::thread::sleep(Duration::from_millis(150));
        assert!(
            quota.check("a").is_none(),
            "one request's allowance is back"
        );
    }

    #[test]
    fn each_of_several_instances_allows_its_share() {
        let quota = ClientQuota::new(10);
        quota.share_among(3);
        assert_eq!(quota.per_instance(), 4, "rounded up");
        assert_eq!((0..10).filter(|_| quota.check("a").is_none()).count(), 4);
        quota.share_among(0);
        assert_eq!(quota.per_instance(), 10, "no count is one instance");
        quota.share_among(50);
        assert_eq!(quota.per_instance(), 1, "at least one a second");
    }
}
