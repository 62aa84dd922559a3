//! Loading, refusing and reloading certificate files; what the server configuration offers.

use std::path::Path;

use rcgen::{CertificateParams, KeyPair};
use rustls::ServerConnection;

use super::reload::Refresh;
use super::*;

/// A self-signed certificate for `names`: its PEM, its key's PEM and its DER.
fn issue(names: &[&str]) -> (String, String, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// Writes `contents` to `path` by a rename, as a renewal should, so the file is never seen
/// half written (and always gets a new inode).
fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn with(cert: &str, key: &str) -> Self {
        let files = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        replace(&files.cert(), cert);
        replace(&files.key(), key);
        files
    }

    fn cert(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> std::path::PathBuf {
        self.dir.path().join("key.pem")
    }

    fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.cert(),
            key: self.key(),
        }
    }
}

fn served_der(tls: &Tls) -> Vec<u8> {
    tls.current().cert[0].to_vec()
}

#[test]
fn a_matching_pair_loads_and_its_certificate_is_described() {
    let (cert, key, der) = issue(&["id.example.com", "127.0.0.1"]);
    let files = Files::with(&cert, &key);
    let tls = Tls::load(files.tls_files()).unwrap();
    assert_eq!(served_der(&tls), der);
    let summary = summary(&tls.current()).unwrap();
    assert_eq!(summary.names, ["id.example.com"]);
    assert_eq!(summary.chain_len, 1);
    assert!(!summary.serial.is_empty());
    let host = |h: &str| url::Host::parse(h).unwrap();
    assert!(valid_for_host(&tls.current(), &host("id.example.com")));
    assert!(valid_for_host(&tls.current(), &host("127.0.0.1")));
    assert!(!valid_for_host(&tls.current(), &host("other.example.com")));
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_both_files() {
    let (cert, _, _) = issue(&["id.example.com"]);
    let (_, other_key, _) = issue(&["id.example.com"]);
    let files = Files::with(&cert, &other_key);
    let err = Tls::load(files.tls_files()).unwrap_err();
    assert!(matches!(err, TlsError::Mismatch { .. }), "{err:?}");
    let message = err.to_string();
    for part in [
        "OAUTH2_TLS_KEY",
        "OAUTH2_TLS_CERT",
        "does not match",
        &files.key().display().to_string(),
        &files.cert().display().to_string(),
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
}

#[test]
fn unreadable_empty_and_malformed_files_are_refused_clearly() {
    let (cert, key, _) = issue(&["id.example.com"]);
    let refused = |cert_text: &str, key_text: &str| {
        let files = Files::with(cert_text, key_text);
        Tls::load(files.tls_files()).unwrap_err()
    };
    assert!(matches!(
        refused("not a certificate", &key),
        TlsError::NoCertificate { .. }
    ));
    // Cut short: a BEGIN line without its END.
    let half = &cert[..cert.len() / 2];
    let err = refused(half, &key);
    assert!(
        matches!(
            err,
            TlsError::Pem {
                var: "OAUTH2_TLS_CERT",
                ..
            }
        ),
        "{err:?}"
    );
    // A key file holding a certificate: no key in it.
    assert!(matches!(refused(&cert, &cert), TlsError::NoKey { .. }));
    // A key cut short is refused without quoting the file.
    let half_key = &key[..key.len() / 2];
    let err = refused(&cert, half_key).to_string();
    assert!(err.starts_with("OAUTH2_TLS_KEY:"), "{err}");
    let body_line = half_key.lines().nth(1).unwrap();
    assert!(!err.contains(body_line), "key material in {err}");

    let files = Files::with(&cert, &key);
    let missing = TlsFiles {
        cert: files.dir.path().join("absent.pem"),
        key: files.key(),
    };
    let err = Tls::load(missing).unwrap_err().to_string();
    assert!(
        err.starts_with("OAUTH2_TLS_CERT: cannot read") && err.contains("absent.pem"),
        "{err}"
    );
}

#[test]
fn changed_files_are_served_and_unchanged_ones_not_read_again() {
    let (cert, key, first) = issue(&["id.example.com"]);
    let files = Files::with(&cert, &key);
    let tls = Tls::load(files.tls_files()).unwrap();
    assert_eq!(tls.current.refresh(), Refresh::Unchanged);

    let (cert, key, second) = issue(&["id.example.com"]);
    replace(&files.key(), &key);
    replace(&files.cert(), &cert);
    assert_eq!(tls.current.refresh(), Refresh::Reloaded);
    assert_ne!(first, second);
    assert_eq!(served_der(&tls), second);
    assert_eq!(tls.current.refresh(), Refresh::Unchanged);
}

#[test]
fn files_that_cannot_be_served_keep_the_previous_certificate_until_fixed() {
    let (cert, key, first) = issue(&["id.example.com"]);
    let files = Files::with(&cert, &key);
    let tls = Tls::load(files.tls_files()).unwrap();
    let (new_cert, new_key, second) = issue(&["id.example.com"]);

    // The new certificate is there, its key not yet.
    replace(&files.cert(), &new_cert);
    let Refresh::Kept(reason) = tls.current.refresh() else {
        panic!("a mismatched key was served");
    };
    assert!(reason.contains("does not match"), "{reason}");
    assert_eq!(served_der(&tls), first);
    // Tried again at every check while the files stay so.
    assert!(matches!(tls.current.refresh(), Refresh::Kept(_)));

    // Half written, then garbage.
    replace(&files.key(), &new_key[..new_key.len() / 2]);
    assert!(matches!(tls.current.refresh(), Refresh::Kept(_)));
    replace(&files.cert(), "garbage");
    assert!(matches!(tls.current.refresh(), Refresh::Kept(_)));
    std::fs::remove_file(files.cert()).unwrap();
    assert!(matches!(tls.current.refresh(), Refresh::Kept(_)));
    assert_eq!(served_der(&tls), first);

    replace(&files.cert(), &new_cert);
    replace(&files.key(), &new_key);
    assert_eq!(tls.current.refresh(), Refresh::Reloaded);
    assert_eq!(served_der(&tls), second);
}

#[test]
fn alpn_offers_h2_then_http1() {
    let (cert, key, _) = issue(&["id.example.com"]);
    let files = Files::with(&cert, &key);
    let tls = Tls::load(files.tls_files()).unwrap();
    assert_eq!(
        tls.server_config().alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

/// A TLS 1.1 ClientHello (version 3.2, no supported_versions extension): two CBC suites, no
/// compression, and the given extensions.
fn tls11_client_hello(extensions: &[u8]) -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend([0x42; 32]); // random
    body.push(0); // no session id
    body.extend([0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // cipher suites
    body.extend([0x01, 0x00]); // compression: null
    if !extensions.is_empty() {
        body.extend(u16::try_from(extensions.len()).unwrap().to_be_bytes());
        body.extend(extensions);
    }
    let mut handshake = vec![0x01, 0x00, 0x00, u8::try_from(body.len()).unwrap()];
    handshake.extend(body);
    let mut record = vec![
        0x16,
        0x03,
        0x01,
        0x00,
        u8::try_from(handshake.len()).unwrap(),
    ];
    record.extend(handshake);
    record
}

/// What the server answers `hello` with: its error and the alert it sends.
fn refusal(tls: &Tls, hello: &[u8]) -> (rustls::Error, Vec<u8>) {
    let mut server = ServerConnection::new(tls.server_config()).unwrap();
    server.read_tls(&mut &hello[..]).unwrap();
    let err = server.process_new_packets().unwrap_err();
    let mut sent = Vec::new();
    server.write_tls(&mut sent).unwrap();
    (err, sent)
}

#[test]
fn a_tls_1_1_client_is_refused() {
    use rustls::PeerIncompatible;
    let (cert, key, _) = issue(&["id.example.com"]);
    let files = Files::with(&cert, &key);
    let tls = Tls::load(files.tls_files()).unwrap();

    // With signature_algorithms (ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256,
    // rsa_pkcs1_sha256), the hello gets as far as the version: refused for it.
    let signature_algorithms = [
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01,
    ];
    let (err, sent) = refusal(&tls, &tls11_client_hello(&signature_algorithms));
    assert!(
        matches!(
            err,
            rustls::Error::PeerIncompatible(PeerIncompatible::Tls12NotOffered)
        ),
        "{err:?}"
    );
    // An alert record: fatal (2), protocol_version (70).
    assert_eq!(
        (sent[0], &sent[sent.len() - 2..]),
        (0x15, &[2, 70][..]),
        "{sent:?}"
    );

    // As an old client sends it, without that TLS 1.2 extension: refused earlier.
    let (err, sent) = refusal(&tls, &tls11_client_hello(&[]));
    assert!(matches!(err, rustls::Error::PeerIncompatible(_)), "{err:?}");
    assert_eq!((sent[0], sent[sent.len() - 2]), (0x15, 2), "{sent:?}");
}

#[test]
fn a_zero_reload_interval_is_not_a_busy_loop() {
    // `watch` clamps it (tokio would panic on zero); the task ends with the last clone.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cert, key, _) = issue(&["id.example.com"]);
    let files = Files::with(&cert, &key);
    runtime.block_on(async {
        let tls = Tls::load(files.tls_files()).unwrap();
        let watcher = tls.watch(std::time::Duration::ZERO);
        drop(tls);
        tokio::time::timeout(std::time::Duration::from_secs(5), watcher)
            .await
            .expect("the watcher ends once the Tls is dropped")
            .unwrap();
    });
}
