//! The startup check of client ID metadata documents (`OAUTH2_CLIENT_METADATA_HOSTS`): off,
//! on for the hosts listed, or on with a pattern so broad that anyone may serve a client.

use super::Config;
use super::checks::{Check, Status, check};

/// A warning, never a failure: an operator may mean a broad pattern (a platform whose users
/// each get a subdomain), but should know that anyone who can publish there is a client.
pub(super) fn client_metadata(config: &Config) -> Check {
    const NAME: &str = "client_metadata_documents";
    let hosts = &config.client_metadata_hosts;
    if hosts.is_empty() {
        return check(
            NAME,
            Status::Pass,
            "OAUTH2_CLIENT_METADATA_HOSTS is empty: URL client ids (client ID metadata \
             documents) are unknown clients",
        );
    }
    let http = if config.is_production() {
        "https only"
    } else {
        "https, and plain http to loopback hosts (development)"
    };
    let listed = format!(
        "client ID metadata documents are fetched from {} ({http}; public addresses only, \
         16 KiB, 5 s, no redirects)",
        hosts.entries().join(", ")
    );
    let broad = hosts.broad_patterns();
    if broad.is_empty() {
        check(NAME, Status::Pass, listed)
    } else {
        check(
            NAME,
            Status::Warn,
            format!(
                "{listed}; {} let anyone who registers a domain there act as a client \
                 (consent is still asked)",
                broad.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(hosts: &str) -> Check {
        let config = Config::from_sources(None, |var| {
            (var == "OAUTH2_CLIENT_METADATA_HOSTS").then(|| hosts.to_owned())
        })
        .unwrap();
        client_metadata(&config)
    }

    #[test]
    fn off_and_narrow_lists_pass() {
        let off = run("");
        assert_eq!(off.status, Status::Pass);
        assert!(off.message.contains("unknown clients"), "{}", off.message);
        let narrow = run("app.example.com *.tools.example.org");
        assert_eq!(narrow.status, Status::Pass);
        assert!(
            narrow
                .message
                .contains("app.example.com, *.tools.example.org"),
            "{}",
            narrow.message
        );
    }

    #[test]
    fn a_pattern_over_a_whole_top_level_domain_warns() {
        let broad = run("app.example.com *.com");
        assert_eq!(broad.status, Status::Warn);
        assert!(
            broad.message.contains("*.com let anyone"),
            "{}",
            broad.message
        );
    }
}
