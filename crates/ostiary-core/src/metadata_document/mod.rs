//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a `client_id`
//! that is an `https` URL names a JSON document of client metadata, which the server fetches
//! from hosts the operator allows, checks as a registration, and stores as a client that is
//! fetched again when its copy expires.
//!
//! Off unless the operator lists hosts (`OAUTH2_CLIENT_METADATA_HOSTS`); a URL id of any
//! other host is an unknown client, and nothing is fetched for it. Fetching is a request
//! forgery surface, bounded in `fetch` (no redirect, no proxy, size and time limits, public
//! addresses only, checked where the connection is made) and `address`.

mod address;
mod document;
mod fetch;
mod freshness;
mod hosts;
mod service;

pub use address::{is_loopback, is_public};
pub use fetch::{FETCH_TIMEOUT, FetchError, MAX_DOCUMENT_BYTES};
pub use freshness::{DEFAULT_FRESHNESS, FAILURE_RETRY, MAX_FRESHNESS, MIN_FRESHNESS};
pub use hosts::HostAllowList;
pub use service::MetadataDocuments;

use url::Url;

use crate::client::ClientId;

/// Which URL ids are metadata documents the server may fetch.
#[derive(Debug, Clone, Default)]
pub struct DocumentPolicy {
    /// The hosts allowed (`OAUTH2_CLIENT_METADATA_HOSTS`); empty: off.
    pub hosts: HostAllowList,
    /// Plain `http` to a loopback host (`localhost`, `127.0.0.1`, `[::1]`) is allowed, and
    /// only loopback addresses are connected to for it: development only, for trying a
    /// client out on one machine.
    pub loopback_http: bool,
}

impl DocumentPolicy {
    /// Whether metadata documents are offered at all.
    pub fn is_enabled(&self) -> bool {
        !self.hosts.is_empty()
    }

    /// The document URL of `id`, when it names a document this server may fetch: on an
    /// allowed host, over https on its default port (another port would let anyone who may
    /// name a client probe the host's other services), or plain http to loopback where
    /// allowed.
    pub fn url_of(&self, id: &ClientId) -> Option<Url> {
        let url = id.document_url()?;
        // `ClientId` already holds plain http to loopback hosts only.
        let scheme = match url.scheme() {
            "https" => url.port().is_none(),
            "http" => self.loopback_http,
            _ => false,
        };
        (scheme && self.hosts.allows(&url)).then_some(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &str, loopback_http: bool) -> DocumentPolicy {
        DocumentPolicy {
            hosts: hosts.parse().unwrap(),
            loopback_http,
        }
    }

    fn url_of(policy: &DocumentPolicy, id: &str) -> Option<String> {
        policy
            .url_of(&ClientId::parse_any(id).unwrap())
            .map(String::from)
    }

    #[test]
    fn only_allowed_hosts_are_fetched() {
        let p = policy("*.example.com", false);
        assert!(p.is_enabled());
        assert_eq!(
            url_of(&p, "https://app.example.com/c").as_deref(),
            Some("https://app.example.com/c")
        );
        assert_eq!(url_of(&p, "https://app.example.org/c"), None);
        assert_eq!(url_of(&p, "my-client"), None);
        let off = DocumentPolicy::default();
        assert!(!off.is_enabled());
        assert_eq!(url_of(&off, "https://app.example.com/c"), None);
    }

    #[test]
    fn plain_http_to_loopback_only_where_allowed() {
        let production = policy("127.0.0.1 localhost", false);
        assert_eq!(url_of(&production, "http://127.0.0.1:4000/c"), None);
        assert_eq!(url_of(&production, "http://localhost:4000/c"), None);
        assert!(url_of(&production, "https://localhost/c").is_some());
        assert_eq!(
            url_of(&production, "https://localhost:4000/c"),
            None,
            "https on its default port only"
        );
        let development = policy("127.0.0.1 localhost", true);
        assert!(url_of(&development, "http://127.0.0.1:4000/c").is_some());
        assert!(url_of(&development, "http://localhost:4000/c").is_some());
        assert_eq!(url_of(&development, "http://[::1]:4000/c"), None);
    }
}
