//! Native TLS: certificates renewed on disk are served without a restart, files that cannot
//! be served are refused at start and kept out while running, ALPN picks HTTP/2, only TLS
//! 1.2 and 1.3 are spoken, and a plain or silent client gets nothing but a closed socket.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::http;
use ostiary_server::tls::Tls;
use tokio::net::TcpStream;

use crate::support::{
    Scratch, TLS_BOTH, TestApp, TestCa, TlsDir, free_port, healthz_http1, presented_cert,
    read_until_closed, replace_file, serve_tls, tls_connect, until_presented, wait_until_up,
};

/// The issue's demonstration, through the real binary: served over TLS, the files replaced
/// by a renewal, the new certificate shown on the next connection by the same process.
#[tokio::test]
async fn a_certificate_renewed_on_disk_is_served_on_the_next_connection_without_a_restart() {
    let ca = TestCa::new();
    let (first, second) = (ca.issue(), ca.issue());
    let files = TlsDir::holding(&first);
    let scratch = Scratch::new();
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let mut child = scratch
        .command(&["serve"])
        .env("OAUTH2_BIND", format!("127.0.0.1:{port}"))
        .env("OAUTH2_METRICS_BIND", "127.0.0.1:0")
        .env("OAUTH2_ISSUER", &base)
        .env("OAUTH2_TLS_CERT", files.cert())
        .env("OAUTH2_TLS_KEY", files.key())
        .env("OAUTH2_TLS_RELOAD_SECS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_up(&ca.reqwest(), &base, &mut child).await;

    let shown = |response: &reqwest::Response| {
        response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .map(<[u8]>::to_vec)
    };
    // A client per request: a new connection, a full handshake.
    let health = ca
        .reqwest()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(shown(&health).unwrap(), first.der);
    let discovery: serde_json::Value = ca
        .reqwest()
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], base);

    files.renew(&second);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = ca
            .reqwest()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        if shown(&response).unwrap() == second.der {
            break;
        }
        assert_eq!(shown(&response).unwrap(), first.der);
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(child.try_wait().unwrap().is_none(), "the server restarted");

    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", output.status);
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("TLS certificate reloaded"), "{logs}");
}

#[tokio::test]
async fn files_that_cannot_be_served_keep_the_certificate_in_use() {
    let ca = TestCa::new();
    let (first, second) = (ca.issue(), ca.issue());
    let files = TlsDir::holding(&first);
    let app = TestApp::new().await;
    let tls = Tls::load(files.tls_files()).unwrap();
    let _watch = tls.watch(Duration::from_millis(20));
    let addr = serve_tls(&app, tls).await;
    let client = ca.client(TLS_BOTH, &[]);
    assert_eq!(presented_cert(addr, &client).await, first.der);

    // Written in place and caught half way; then a certificate whose key is not there.
    std::fs::write(files.cert(), &second.cert_pem[..second.cert_pem.len() / 2]).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(presented_cert(addr, &client).await, first.der);
    replace_file(&files.cert(), &second.cert_pem);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stream = tls_connect(addr, &client).await.unwrap();
    assert_eq!(
        stream.get_ref().1.peer_certificates().unwrap()[0].as_ref(),
        first.der
    );
    assert!(healthz_http1(stream).await.starts_with("HTTP/1.1 200"));

    // The key arrives: the pair is whole and served.
    replace_file(&files.key(), &second.key_pem);
    until_presented(addr, &client, &second.der, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn alpn_chooses_http2_and_http1_is_still_served() {
    let ca = TestCa::new();
    let leaf = ca.issue();
    let files = TlsDir::holding(&leaf);
    let app = TestApp::new().await;
    let addr = serve_tls(&app, Tls::load(files.tls_files()).unwrap()).await;

    let h2_client = ca.client(TLS_BOTH, &[b"h2", b"http/1.1"]);
    let stream = tls_connect(addr, &h2_client).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, connection) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(connection);
    let mut send = send.ready().await.unwrap();
    let request = http::Request::get("https://127.0.0.1/healthz")
        .body(())
        .unwrap();
    let (response, _) = send.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);

    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let stream = tls_connect(addr, &ca.client(TLS_BOTH, alpn)).await.unwrap();
        let expected = alpn.first().copied();
        assert_eq!(stream.get_ref().1.alpn_protocol(), expected);
        let response = healthz_http1(stream).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
}

#[tokio::test]
async fn tls_1_2_and_1_3_clients_are_served() {
    let ca = TestCa::new();
    let leaf = ca.issue();
    let files = TlsDir::holding(&leaf);
    let app = TestApp::new().await;
    let addr = serve_tls(&app, Tls::load(files.tls_files()).unwrap()).await;
    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let stream = tls_connect(addr, &ca.client(&[version], &[]))
            .await
            .unwrap();
        assert_eq!(stream.get_ref().1.protocol_version(), Some(expected));
        assert!(healthz_http1(stream).await.starts_with("HTTP/1.1 200"));
    }
}

/// Plain HTTP on the TLS port, and a client that connects and says nothing: each gets its
/// socket closed (the silent one once the handshake's time is up), and TLS clients are
/// served meanwhile and after.
#[tokio::test]
async fn plain_http_and_silent_clients_are_closed_and_tls_goes_on() {
    let ca = TestCa::new();
    let leaf = ca.issue();
    let files = TlsDir::holding(&leaf);
    let app = TestApp::new().await;
    let addr = serve_tls(&app, Tls::load(files.tls_files()).unwrap()).await;
    let client = ca.client(TLS_BOTH, &[]);

    let silent = TcpStream::connect(addr).await.unwrap();
    let plain = healthz_http1(TcpStream::connect(addr).await.unwrap()).await;
    assert!(!plain.contains("200"), "plain HTTP was answered: {plain:?}");
    let stream = tls_connect(addr, &client).await.unwrap();
    assert!(healthz_http1(stream).await.starts_with("HTTP/1.1 200"));

    let started = Instant::now();
    let mut silent = silent;
    assert!(read_until_closed(&mut silent).await.is_empty());
    assert!(started.elapsed() < Duration::from_secs(3));
    let stream = tls_connect(addr, &client).await.unwrap();
    assert!(healthz_http1(stream).await.starts_with("HTTP/1.1 200"));
}

#[test]
fn startup_and_check_config_refuse_a_key_that_does_not_match_the_certificate() {
    let ca = TestCa::new();
    let (leaf, other) = (ca.issue(), ca.issue());
    let files = TlsDir::holding(&leaf);
    replace_file(&files.key(), &other.key_pem);
    let scratch = Scratch::new();
    let env = [
        ("OAUTH2_TLS_CERT", files.cert()),
        ("OAUTH2_TLS_KEY", files.key()),
    ];

    let serve = scratch
        .command(&["serve"])
        .env("OAUTH2_BIND", "127.0.0.1:0")
        .env("OAUTH2_METRICS_BIND", "127.0.0.1:0")
        .envs(env.clone())
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(1));
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(
        err.contains("OAUTH2_TLS_KEY") && err.contains("does not match"),
        "{err}"
    );

    let check = scratch
        .command(&["check-config"])
        .envs(env.clone())
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let tls = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tls")
        .unwrap();
    assert_eq!(tls["status"], "fail");
    assert!(
        tls["message"].as_str().unwrap().contains("does not match"),
        "{tls}"
    );
}

#[test]
fn a_certificate_without_its_key_is_a_configuration_error_naming_both() {
    let scratch = Scratch::new();
    let out = scratch
        .command(&["check-config"])
        .env("OAUTH2_TLS_CERT", "/etc/ostiary/fullchain.pem")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OAUTH2_TLS_KEY") && err.contains("OAUTH2_TLS_CERT"),
        "{err}"
    );
}

#[test]
fn check_config_describes_the_certificate_it_will_serve() {
    let ca = TestCa::new();
    let leaf = ca.issue();
    let files = TlsDir::holding(&leaf);
    let scratch = Scratch::new();
    let check = |issuer: &str| {
        let out = scratch
            .command(&["check-config"])
            .env("OAUTH2_ISSUER", issuer)
            .env("OAUTH2_TLS_CERT", files.cert())
            .env("OAUTH2_TLS_KEY", files.key())
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "tls")
            .unwrap()
            .clone()
    };
    let good = check("https://127.0.0.1:8443");
    assert_eq!(good["status"], "pass", "{good}");
    assert!(
        good["message"]
            .as_str()
            .unwrap()
            .contains("TLS 1.2 and 1.3"),
        "{good}"
    );
    // A certificate for another host than the issuer's, an http issuer, a key file anyone
    // may read: warnings.
    let other = check("https://id.example.com");
    assert_eq!(other["status"], "warn", "{other}");
    assert!(
        other["message"]
            .as_str()
            .unwrap()
            .contains("id.example.com")
    );
    assert_eq!(check("http://127.0.0.1:8080")["status"], "warn");
    std::fs::set_permissions(files.key(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let readable = check("https://127.0.0.1:8443");
    assert_eq!(readable["status"], "warn", "{readable}");
    assert!(
        readable["message"]
            .as_str()
            .unwrap()
            .contains("readable by every user"),
        "{readable}"
    );
}
