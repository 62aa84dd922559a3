//! Optional per-client quota on authenticated requests (`OAUTH2_CLIENT_QUOTA_PER_SEC`), off
//! by default: a fixed one-second window per client, in memory, per instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ClientQuota {
    per_second: u32,
    start: Instant,
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

/// Bounded memory: the map restarts past this many clients.
const MAX_CLIENTS: usize = 100_000;

impl ClientQuota {
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            start: Instant::now(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request; how long to wait when the client is over its quota.
    pub fn check(&self, client_id: &str) -> Option<Duration> {
        let elapsed = self.start.elapsed();
        let second = elapsed.as_secs();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_CLIENTS && !windows.contains_key(client_id) {
            windows.clear();
        }
        let window = windows.entry(client_id.to_owned()).or_insert((second, 0));
        if window.0 != second {
            *window = (second, 0);
        }
        if window.1 >= self.per_second {
            return Some(Duration::from_secs(second + 1).saturating_sub(elapsed));
        }
        window.1 += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_quota_waits_for_the_next_second() {
        let quota = ClientQuota::new(3);
        assert!((0..3).all(|_| quota.check("a").is_none()));
        let wait = quota.check("a").expect("limited");
        assert!(wait <= Duration::from_secs(1));
        assert!(quota.check("b").is_none(), "clients are limited separately");
    }
}
