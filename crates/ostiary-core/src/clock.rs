//! Time as a dependency, so expiry and rotation are testable without sleeping.

use std::fmt::Debug;
use time::OffsetDateTime;

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> OffsetDateTime;

    /// Now, to the whole second: the precision records are stored with.
    fn now_seconds(&self) -> OffsetDateTime {
        let now = self.now();
        now - time::Duration::nanoseconds(i64::from(now.nanosecond()))
    }
}

/// The wall clock, in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
