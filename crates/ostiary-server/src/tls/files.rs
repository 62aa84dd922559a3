//! Reading a certificate chain and its key from PEM files, refusing what cannot be served.

use std::path::Path;

use rustls::client::verify_server_name;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;
use rustls::{Error, InconsistentKeys};
use secrecy::{ExposeSecret, SecretSlice};

use super::TlsFiles;

const CERT_VAR: &str = "OAUTH2_TLS_CERT";
const KEY_VAR: &str = "OAUTH2_TLS_KEY";

/// Why the TLS files cannot be served. Messages name the setting and the path, never what a
/// key file holds.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read (missing, not permitted).
    #[error("{var}: cannot read {path}: {source}")]
    Read {
        var: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// A file is not well-formed PEM (cut short, a bad BEGIN line, bad base64).
    #[error("{var}: {path} is not valid PEM: {reason}")]
    Pem {
        var: &'static str,
        path: String,
        reason: &'static str,
    },
    /// The certificate file holds no certificate.
    #[error("OAUTH2_TLS_CERT: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    /// The first certificate does not parse as X.509.
    #[error(
        "OAUTH2_TLS_CERT: the first certificate in {path} is not a valid X.509 certificate: {reason}"
    )]
    Certificate { path: String, reason: String },
    /// The key file holds no private key.
    #[error("OAUTH2_TLS_KEY: {path} holds no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)")]
    NoKey { path: String },
    /// The key is of a kind rustls cannot sign with, or whose match cannot be checked.
    #[error("OAUTH2_TLS_KEY: the key in {path} cannot be used: {reason}")]
    Key { path: String, reason: String },
    /// The key is not the one the first certificate certifies.
    #[error(
        "OAUTH2_TLS_KEY: the key in {key} does not match the certificate in {cert} (OAUTH2_TLS_CERT)"
    )]
    Mismatch { key: String, cert: String },
    /// rustls refused the configuration (not expected with the fixed settings used).
    #[error("TLS configuration: {0}")]
    Config(Error),
}

/// The certificate chain and key the files hold now, once the key is known to match the
/// first certificate (rustls would otherwise fail only at the first handshake).
pub fn load_certified_key(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let cert_path = files.cert.display().to_string();
    let key_path = files.key.display().to_string();
    let cert_pem = read(CERT_VAR, &files.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(CERT_VAR, &cert_path, &e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert_path });
    }
    // The key file's bytes are wiped when dropped.
    let key_pem = SecretSlice::from(read(KEY_VAR, &files.key)?);
    let key = PrivateKeyDer::from_pem_slice(key_pem.expose_secret()).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: key_path.clone(),
        },
        e => pem_error(KEY_VAR, &key_path, &e),
    })?;
    let signing_key = super::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => Err(TlsError::Mismatch {
            key: key_path,
            cert: cert_path,
        }),
        // Unknown (a provider that cannot tell) is refused too: aws-lc-rs tells for every
        // key type it loads, so this is not expected, and serving unchecked is not wanted.
        Err(Error::InconsistentKeys(InconsistentKeys::Unknown)) => Err(TlsError::Key {
            path: key_path,
            reason: "cannot tell whether it matches the certificate".to_owned(),
        }),
        Err(e) => Err(TlsError::Certificate {
            path: cert_path,
            reason: e.to_string(),
        }),
    }
}

fn read(var: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        var,
        path: path.display().to_string(),
        source,
    })
}

/// pki-types' own messages may quote a line of the file: for a key file, its content.
fn pem_error(var: &'static str, path: &str, e: &pem::Error) -> TlsError {
    let reason = match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line (cut short?)",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "unreadable",
    };
    TlsError::Pem {
        var,
        path: path.to_owned(),
        reason,
    }
}

/// What the logs and `check-config` say about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// The DNS names it is valid for (subject alternative names).
    pub names: Vec<String>,
    /// Its serial number in hex, to tell a renewed certificate from the one it replaces.
    pub serial: String,
    /// How many certificates the chain holds, the server's own included.
    pub chain_len: usize,
}

/// The names and serial of `key`'s certificate; `None` if it does not parse (which
/// [`load_certified_key`] has already refused).
pub fn summary(key: &CertifiedKey) -> Option<CertificateSummary> {
    let leaf = key.cert.first()?;
    let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
    Some(CertificateSummary {
        names: cert.valid_dns_names().map(str::to_owned).collect(),
        serial: hex::encode(cert.serial()),
        chain_len: key.cert.len(),
    })
}

/// Whether `key`'s certificate is valid for `host` (a DNS name or an IP address, as in a
/// URL), as a client connecting to that host would check.
pub fn valid_for_host<S: AsRef<str>>(key: &CertifiedKey, host: &url::Host<S>) -> bool {
    let name = match host {
        url::Host::Domain(domain) => match ServerName::try_from(domain.as_ref().to_owned()) {
            Ok(name) => name,
            Err(_) => return false,
        },
        url::Host::Ipv4(ip) => ServerName::IpAddress(std::net::IpAddr::V4(*ip).into()),
        url::Host::Ipv6(ip) => ServerName::IpAddress(std::net::IpAddr::V6(*ip).into()),
    };
    key.cert
        .first()
        .and_then(|leaf| ParsedCertificate::try_from(leaf).ok())
        .is_some_and(|cert| verify_server_name(&cert, &name).is_ok())
}
