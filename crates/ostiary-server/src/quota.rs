//! Optional per-client quota on authenticated requests (`OAUTH2_CLIENT_QUOTA_PER_SEC`), off
//! by default: governor's GCRA per client, in memory, per instance.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// `per_second` requests a second for each client, with bursts of at most that many: a
/// client never gets twice its quota across a second's boundary, as a fixed window allows.
#[derive(Debug)]
pub struct ClientQuota {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

/// Beyond this many tracked clients, those back at a full allowance are dropped: only
/// authenticated clients are counted, so this bounds memory against a very large registry.
const MAX_CLIENTS: usize = 100_000;

impl ClientQuota {
    /// A quota of `per_second` (at least 1) requests a second per client.
    pub fn new(per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of `client_id`; how long to wait when it is over its quota.
    pub fn check(&self, client_id: &str) -> Option<Duration> {
        if self.limiter.len() >= MAX_CLIENTS {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&client_id.to_owned()) {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(self.clock.now())),
        }
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
}
