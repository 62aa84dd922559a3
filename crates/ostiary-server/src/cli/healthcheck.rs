//! `ostiary healthcheck`: asks a running server's `/readyz` and exits 0 only if it is ready,
//! for container health checks (a distroless image has no shell and no curl).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::output;

/// Longer than the server's own readiness timeout (2 s), shorter than a health check's.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The readiness URL of a server listening on `bind`, `https` when it serves TLS itself; one
/// listening on every address (`0.0.0.0`, `[::]`) is asked on loopback.
pub fn ready_url(bind: SocketAddr, tls: bool) -> String {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}/readyz", SocketAddr::new(ip, bind.port()))
}

/// GETs `url` (no proxy, no redirects) and prints `{"url", "status", "ready"}`; ready is a 2xx.
/// No answer at all is an error (stderr, exit 1), as a 503 is a failure (exit 1).
///
/// `own_listener`: `url` is the server's own listener as [`ready_url`] derived it, whose
/// certificate names the public host, not the address asked; the probe sends nothing secret,
/// so the certificate is not verified there. A URL given by the operator is verified.
pub async fn run(url: &str, own_listener: bool) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(own_listener)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .context("could not build the HTTP client")?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("{url} did not answer"))?;
    let status = response.status();
    let ready = status.is_success();
    output::print_json(&serde_json::json!({
        "url": url,
        "status": status.as_u16(),
        "ready": ready,
    }))?;
    Ok(if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_asked_on_loopback() {
        let url = |bind: &str| ready_url(bind.parse().unwrap(), false);
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/readyz");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/readyz");
        assert_eq!(url("10.1.2.3:80"), "http://10.1.2.3:80/readyz");
        assert_eq!(url("[::1]:9"), "http://[::1]:9/readyz");
        assert_eq!(
            ready_url("0.0.0.0:443".parse().unwrap(), true),
            "https://127.0.0.1:443/readyz"
        );
    }
}
