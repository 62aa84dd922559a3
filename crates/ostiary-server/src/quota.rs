//! Optional per-client quota on authenticated requests (`OAUTH2_CLIENT_QUOTA_PER_SEC`), off
//! by default: governor's GCRA per client, in memory. Where several instances share the
//! database, each allows its share (the quota divided by the instances counted on the
//! database, `share_among`), so a client spread over them by a load balancer gets the quota
//! in all, with no write, read or lock more on a request's path.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// `per_second` requests a second for each client, with bursts of at most that many: a
/// client never gets twice its quota across a second's boundary, as a fixed window allows.
/// Shared among `instances`, each request here costs `instances` of the client's
/// `per_second` cells, so this instance allows `per_second / instances` a second.
#[derive(Debug)]
pub struct ClientQuota {
    per_second: u32,
    limiter: DefaultKeyedRateLimiter<String>,
    /// The instances serving (at least 1), as last counted.
    instances: AtomicU32,
    clock: DefaultClock,
}

/// Beyond this many tracked clients, those back at a full allowance are dropped: only
/// authenticated clients are counted, so this bounds memory against a very large registry.
const MAX_CLIENTS: usize = 100_000;

impl ClientQuota {
    /// A quota of `per_second` (at least 1) requests a second per client, on one instance.
    pub fn new(per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        Self {
            per_second: rate.get(),
            limiter: RateLimiter::keyed(Quota::per_second(rate)),
            instances: AtomicU32::new(1),
            clock: DefaultClock::default(),
        }
    }

    /// What one request costs here: the instance count, at most the whole quota (so each
    /// instance allows at least one request a second).
    fn cost(&self) -> NonZeroU32 {
        let cost = self
            .instances
            .load(Ordering::Relaxed)
            .clamp(1, self.per_second);
        NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN)
    }

    /// Counts one request of `client_id`; how long to wait when it is over its quota.
    pub fn check(&self, client_id: &str) -> Option<Duration> {
        if self.limiter.len() >= MAX_CLIENTS {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key_n(&client_id.to_owned(), self.cost()) {
            Ok(Ok(())) => None,
            Ok(Err(not_until)) => Some(not_until.wait_time_from(self.clock.now())),
            // Unreachable: the cost never exceeds the bucket. A second is the safe answer.
            Err(_) => Some(Duration::from_secs(1)),
        }
    }

    /// Shares the quota among `instances` (0 counts as 1): from now on this instance allows
    /// each client `per_second / instances` requests a second (rounded down, at least 1).
    pub fn share_among(&self, instances: u32) {
        let instances = instances.max(1);
        if self.instances.swap(instances, Ordering::Relaxed) != instances {
            tracing::info!(
                instances,
                per_instance = self.per_instance(),
                "client quota shared among the instances"
            );
        }
    }

    /// The requests a second this instance allows each client (its share of the quota).
    pub fn per_instance(&self) -> u32 {
        self.per_second / self.cost().get()
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
        assert_eq!(
            quota.per_instance(),
            3,
            "rounded down: never more than the quota"
        );
        assert_eq!((0..10).filter(|_| quota.check("a").is_none()).count(), 3);
        quota.share_among(50);
        assert_eq!(quota.per_instance(), 1, "at least one a second");
        assert!(quota.check("b").is_none());
        assert!(quota.check("b").is_some());
        quota.share_among(0);
        assert_eq!(quota.per_instance(), 10, "no count is one instance");
    }
}
