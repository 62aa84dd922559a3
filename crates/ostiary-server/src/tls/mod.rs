//! Native TLS for a listener: rustls with TLS 1.2 and 1.3 only, ALPN `h2` and `http/1.1`, and
//! a certificate read from PEM files and re-read when they change.
//!
//! A listener given a [`Tls`] runs each accepted connection through [`Tls::accept`] before
//! hyper sees it; the certificate is picked at each handshake from a holder that
//! [`Tls::watch`] refreshes, so a renewed certificate is presented on the next connection
//! without a restart.

mod files;
mod reload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

pub use files::{CertificateSummary, TlsError, load_certified_key, summary, valid_for_host};
use reload::CurrentCert;

/// The only protocol versions offered: TLS 1.0 and 1.1 are deprecated (RFC 8996), and
/// OAuth 2.1 requires TLS 1.2 or later.
pub const PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// ALPN protocols in the server's order of preference; hyper-util serves both.
pub const ALPN_PROTOCOLS: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The PEM files of a certificate and its key (`OAUTH2_TLS_CERT`, `OAUTH2_TLS_KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain: the server's certificate first, then its intermediates.
    pub cert: PathBuf,
    /// The private key of the first certificate (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

/// The server side of TLS for one or more listeners: cheap to clone, every clone presenting
/// the same (reloadable) certificate.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
    current: Arc<CurrentCert>,
}

/// The crypto provider: aws-lc-rs, as ostiary-jwt signs with. Named explicitly because the
/// dependency graph also builds rustls's ring provider (for sqlx), and with both built
/// rustls cannot pick a process default by itself.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Tls {
    /// Reads and checks the files (the key must match the certificate) and builds the
    /// server configuration. Certificates are not re-read until [`Tls::watch`] is called.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let current = Arc::new(CurrentCert::load(files)?);
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(PROTOCOL_VERSIONS)
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            config: Arc::new(config),
            current,
        })
    }

    /// Checks the files every `every` and, when they changed, serves what they hold from
    /// the next handshake on. Files that cannot be served (half written, a key that does
    /// not match) leave the current certificate in place, with a warning. The task ends
    /// once every clone of this `Tls` is dropped.
    pub fn watch(&self, every: Duration) -> JoinHandle<()> {
        // A zero interval would spin (and tokio refuses it).
        let every = every.max(Duration::from_millis(10));
        reload::watch(Arc::downgrade(&self.current), every)
    }

    /// The certificate and key presented to the next client.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.served()
    }

    /// The rustls configuration every handshake uses.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// The TLS handshake on an accepted connection, within `within`: `None` if it fails (a
    /// client speaking plain HTTP, an unsupported version, a scanner) or takes longer, so a
    /// peer that stalls mid-handshake holds its connection slot no longer than a peer that
    /// stalls before its request headers.
    pub async fn accept(
        &self,
        stream: TcpStream,
        within: Duration,
    ) -> Option<TlsStream<TcpStream>> {
        let handshake = TlsAcceptor::from(self.config.clone()).accept(stream);
        match tokio::time::timeout(within, handshake).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
