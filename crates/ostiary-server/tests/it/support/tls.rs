//! TLS test material: a certificate authority made at test time (so no key is checked in),
//! certificate files renewed by rename, the app served with TLS in process, and a rustls
//! client's view of it.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ostiary_server::connections::{self, Limits};
use ostiary_server::tls::{Tls, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::TestApp;

/// A certificate authority made for one test, so no key is ever checked in.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    /// The CA certificate, for clients to trust.
    pub pem: String,
}

/// A server certificate for 127.0.0.1 issued by the test CA.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Ostiary test CA");
        let pem = params.self_signed(&key).unwrap().pem();
        Self { params, key, pem }
    }

    pub fn issue(&self) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = params
            .signed_by(&key, &Issuer::from_params(&self.params, &self.key))
            .unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A rustls client trusting this CA only, offering `versions` and `alpn`.
    pub fn client(
        &self,
        versions: &[&'static SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(
            rustls::pki_types::CertificateDer::pem_slice_iter(self.pem.as_bytes())
                .map(Result::unwrap),
        );
        assert_eq!(added, 1);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }

    /// A reqwest client trusting this CA only, reporting the certificate it was shown.
    pub fn reqwest(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap()])
            .tls_info(true)
            .build()
            .unwrap()
    }
}

pub const TLS_BOTH: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Replaces `path` by a rename, as a renewal should: no reader sees it half written. Owner
/// only, as a key file should be.
pub fn replace_file(path: &Path, contents: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The two PEM files in a directory of their own.
pub struct TlsDir {
    pub dir: tempfile::TempDir,
}

impl TlsDir {
    pub fn holding(leaf: &Leaf) -> Self {
        let files = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        files.renew(leaf);
        files
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("fullchain.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.path().join("privkey.pem")
    }

    /// Key first: until the certificate follows, the pair does not match and is not served.
    pub fn renew(&self, leaf: &Leaf) {
        replace_file(&self.key(), &leaf.key_pem);
        replace_file(&self.cert(), &leaf.cert_pem);
    }

    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.cert(),
            key: self.key(),
        }
    }
}

/// `app`'s router served with `tls` on a loopback port, by the same accept loop
/// as `serve`, headers (and so handshakes) due within a second.
pub async fn serve_tls(app: &TestApp, tls: Tls) -> SocketAddr {
    let listener = connections::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        max_connections: 16,
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(5),
    };
    let service = app
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(connections::serve(
        listener,
        service,
        limits,
        Some(tls),
        std::future::pending(),
    ));
    addr
}

pub async fn tls_connect(
    addr: SocketAddr,
    client: &TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    client
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
}

/// The certificate a new connection is shown.
pub async fn presented_cert(addr: SocketAddr, client: &TlsConnector) -> Vec<u8> {
    let stream = tls_connect(addr, client).await.unwrap();
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Everything the peer sends until it closes (or fails: a TLS peer may close without
/// close_notify).
pub async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open"),
        }
    }
}

/// `GET /healthz` over HTTP/1.1 on `stream`: the response's head and body.
pub async fn healthz_http1(mut stream: impl AsyncReadExt + AsyncWriteExt + Unpin) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    String::from_utf8(read_until_closed(&mut stream).await).unwrap()
}

/// Polls until a new connection is shown `der`, or fails after `within`.
pub async fn until_presented(
    addr: SocketAddr,
    client: &TlsConnector,
    der: &[u8],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    while presented_cert(addr, client).await != der {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
