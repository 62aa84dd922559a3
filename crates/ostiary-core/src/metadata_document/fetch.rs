//! Fetching a metadata document over HTTP within the limits: no proxy, no redirect, 5 s to
//! connect and 5 s in all, 16 KiB, `200` with a JSON type, and a connection only to the
//! addresses the request-forgery rules allow, checked on the addresses actually connected to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::Semaphore;
use url::{Host, Url};

use super::address;
use super::freshness::max_age;

/// The largest document read; a larger one is refused while it streams in.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// The time to connect, and the time for the whole exchange.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Fetches in flight at once: a slow or hostile host holds a slot, never more.
const MAX_CONCURRENT_FETCHES: usize = 16;

/// Why a document could not be fetched (for logs; the client only ever sees an unknown
/// client).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("plain http is allowed only to a loopback host in development")]
    InsecureUrl,
    #[error("the host resolves only to addresses the server does not fetch from")]
    AddressRefused,
    #[error("too many metadata documents are being fetched")]
    Busy,
    #[error("fetching failed: {0}")]
    Http(String),
    #[error("answered with a redirect, which is not followed")]
    Redirect,
    #[error("answered with status {0}, not 200")]
    Status(u16),
    #[error("the content type is not JSON")]
    NotJson,
    #[error("the document is larger than 16 KiB")]
    TooLarge,
}

/// A document's bytes and how long its server says it may be cached.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub max_age: Option<Duration>,
}

/// The HTTP side of metadata documents.
#[derive(Debug)]
pub struct Fetcher {
    /// For https: connects to public addresses only.
    public: reqwest::Client,
    /// For plain http to a loopback host, in development only: connects to loopback only.
    loopback: Option<reqwest::Client>,
    slots: Semaphore,
}

impl Fetcher {
    /// `loopback_http`: plain http to a loopback host is allowed (development).
    pub fn new(loopback_http: bool) -> Result<Self, FetchError> {
        Ok(Self {
            public: client(address::is_public)?,
            loopback: if loopback_http {
                Some(client(address::is_loopback)?)
            } else {
                None
            },
            slots: Semaphore::new(MAX_CONCURRENT_FETCHES),
        })
    }

    /// Fetches the document at `url` (already allowed by the host list).
    pub async fn fetch(&self, url: &Url) -> Result<Fetched, FetchError> {
        let (http, allowed): (_, fn(IpAddr) -> bool) = match url.scheme() {
            "https" => (&self.public, address::is_public),
            "http" => (
                self.loopback.as_ref().ok_or(FetchError::InsecureUrl)?,
                address::is_loopback,
            ),
            _ => return Err(FetchError::InsecureUrl),
        };
        // An address written in the URL is connected to without resolving: checked here.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| !allowed(ip)) {
            return Err(FetchError::AddressRefused);
        }
        let _slot = tokio::time::timeout(FETCH_TIMEOUT, self.slots.acquire())
            .await
            .map_err(|_| FetchError::Busy)?
            .map_err(|_| FetchError::Busy)?;
        let response = http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| refused_address(&e).unwrap_or_else(|| FetchError::Http(e.to_string())))?;
        read(response).await
    }
}

/// A client that connects only to addresses `allowed` passes, follows no redirect, uses no
/// proxy (a proxy would resolve the name itself, past the filter) and gives up after
/// [`FETCH_TIMEOUT`].
fn client(allowed: fn(IpAddr) -> bool) -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(FETCH_TIMEOUT)
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("ostiary/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(Filtering { allowed }))
        .build()
        .map_err(|e| FetchError::Http(e.to_string()))
}

async fn read(mut response: reqwest::Response) -> Result<Fetched, FetchError> {
    let status = response.status();
    if status.is_redirection() {
        return Err(FetchError::Redirect);
    }
    if status != reqwest::StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
    let headers = response.headers();
    let json = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json);
    if !json {
        return Err(FetchError::NotJson);
    }
    let max_age = max_age(
        headers
            .get_all(reqwest::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    if response
        .content_length()
        .is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    // Chunk by chunk: a body without a length (chunked) must not grow past the limit either.
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// `application/json` or an `application/...+json` type, parameters aside.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.len() > "+json".len() && sub.ends_with("+json"))
}

/// The resolver's refusal, found in a request error's chain.
fn refused_address(e: &reqwest::Error) -> Option<FetchError> {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if err.is::<Refused>() {
            return Some(FetchError::AddressRefused);
        }
        source = err.source();
    }
    None
}

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to addresses the server does not fetch from")]
struct Refused(String);

/// Resolves names as the system does, then keeps only the addresses `allowed` passes:
/// reqwest connects to what this returns, so a name that resolves to a private address
/// (at once, or on a second lookup: DNS rebinding) is never connected to.
#[derive(Debug, Clone, Copy)]
struct Filtering {
    allowed: fn(IpAddr) -> bool,
}

impl Resolve for Filtering {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let kept: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allowed(addr.ip()))
                .collect();
            if kept.is_empty() {
                return Err(Box::new(Refused(host)) as _);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_types_are_recognised() {
        for good in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/oauth-client+json",
        ] {
            assert!(is_json(good), "{good}");
        }
        for bad in [
            "text/html",
            "text/json",
            "application/jsonp",
            "application/+json",
            "application/json-seq",
            "",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    async fn resolve(allowed: fn(IpAddr) -> bool, host: &str) -> Result<Vec<IpAddr>, String> {
        let name: Name = host.parse().unwrap();
        Filtering { allowed }
            .resolve(name)
            .await
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        // localhost resolves to loopback only: nothing public is left.
        let err = resolve(address::is_public, "localhost").await.unwrap_err();
        assert!(err.contains("resolves only to addresses"), "{err}");
        let loopback = resolve(address::is_loopback, "localhost").await.unwrap();
        assert!(!loopback.is_empty());
        assert!(loopback.iter().all(|ip| ip.is_loopback()), "{loopback:?}");
        // An address as a name resolves to itself, and is judged the same way.
        let err = resolve(address::is_public, "10.1.2.3").await.unwrap_err();
        assert!(err.contains("resolves only to addresses"), "{err}");
        let err = resolve(address::is_loopback, "169.254.169.254")
            .await
            .unwrap_err();
        assert!(err.contains("resolves only to addresses"), "{err}");
    }

    #[tokio::test]
    async fn literal_addresses_are_checked_before_any_connection() {
        let fetcher = Fetcher::new(true).unwrap();
        for url in [
            "https://127.0.0.1/c",
            "https://10.0.0.1/c",
            "https://[::1]/c",
            "https://[::ffff:169.254.169.254]/c",
            "http://10.0.0.1/c",
        ] {
            let err = fetcher.fetch(&Url::parse(url).unwrap()).await.unwrap_err();
            assert!(matches!(err, FetchError::AddressRefused), "{url}: {err}");
        }
        let production = Fetcher::new(false).unwrap();
        let err = production
            .fetch(&Url::parse("http://127.0.0.1:9/c").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::InsecureUrl), "{err}");
    }
}
