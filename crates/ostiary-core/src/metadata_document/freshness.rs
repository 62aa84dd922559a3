//! How long a fetched metadata document is used before it is fetched again: its server's
//! `Cache-Control: max-age`, held within bounds, and how long a failure is remembered.

use std::time::Duration;

/// Without a `max-age`, a document is used for an hour.
pub const DEFAULT_FRESHNESS: Duration = Duration::from_secs(3600);
/// The shortest use: `no-cache`, `no-store` and small ages are raised to a minute, so one
/// busy client cannot make the server fetch its document on every request.
pub const MIN_FRESHNESS: Duration = Duration::from_secs(60);
/// The longest use: a day, so a changed or withdrawn document takes effect within it.
pub const MAX_FRESHNESS: Duration = Duration::from_secs(24 * 3600);
/// After a failed fetch the client is unknown, without fetching again, for this long.
pub const FAILURE_RETRY: Duration = Duration::from_secs(30);

/// The `max-age` of `Cache-Control` header values (directives compared case-insensitively;
/// `no-store` and `no-cache` count as zero). `None` when none is given or it does not parse.
pub fn max_age<'a>(values: impl Iterator<Item = &'a str>) -> Option<Duration> {
    let mut found = None;
    for directive in values.flat_map(|v| v.split(',')) {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            let seconds = seconds.trim_matches('"');
            if !seconds.is_empty() && seconds.bytes().all(|b| b.is_ascii_digit()) {
                // More digits than a u64 holds: as long as possible.
                found = Some(Duration::from_secs(seconds.parse().unwrap_or(u64::MAX)));
            }
        }
    }
    found
}

/// How long a document fetched with `max_age` is used: within
/// [`MIN_FRESHNESS`]..=[`MAX_FRESHNESS`], [`DEFAULT_FRESHNESS`] without one.
pub fn freshness(max_age: Option<Duration>) -> Duration {
    max_age
        .unwrap_or(DEFAULT_FRESHNESS)
        .clamp(MIN_FRESHNESS, MAX_FRESHNESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(values: &[&str]) -> Option<Duration> {
        max_age(values.iter().copied())
    }

    #[test]
    fn max_age_is_read_from_any_directive_list() {
        assert_eq!(age(&["max-age=300"]), Some(Duration::from_secs(300)));
        assert_eq!(
            age(&["public, Max-Age=120 , must-revalidate"]),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            age(&["public", "max-age=\"90\""]),
            Some(Duration::from_secs(90))
        );
        assert_eq!(age(&["max-age=10, no-cache"]), Some(Duration::ZERO));
        assert_eq!(age(&["no-store"]), Some(Duration::ZERO));
        assert_eq!(
            age(&["max-age=99999999999999999999999"]),
            Some(Duration::from_secs(u64::MAX))
        );
        for none in [
            &[][..],
            &["public"],
            &["max-age=-5"],
            &["max-age="],
            &["max-age=1h"],
        ] {
            assert_eq!(age(none), None, "{none:?}");
        }
    }

    #[test]
    fn freshness_stays_within_bounds() {
        assert_eq!(freshness(None), DEFAULT_FRESHNESS);
        assert_eq!(freshness(Some(Duration::ZERO)), MIN_FRESHNESS);
        assert_eq!(freshness(Some(Duration::from_secs(59))), MIN_FRESHNESS);
        assert_eq!(
            freshness(Some(Duration::from_secs(600))),
            Duration::from_secs(600)
        );
        assert_eq!(
            freshness(Some(Duration::from_secs(u64::MAX))),
            MAX_FRESHNESS
        );
    }
}
