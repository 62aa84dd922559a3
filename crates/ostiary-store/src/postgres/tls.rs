//! Whether connections to PostgreSQL use TLS when the URL does not say. sqlx, like libpq,
//! then tries TLS first (`sslmode=prefer`). To a server on this machine, that TLS protects
//! nothing: loopback traffic never leaves the host, whoever can read it can read this
//! process's memory, and `prefer` checks no certificate, so it never told the real server
//! from an impostor on the port either. It costs the user flows about a tenth of their rate
//! on a shared machine (bench/README.md, 2026-12-02).
//!
//! So when the URL names a loopback host and neither it nor the environment says anything
//! about TLS, the server is asked, over a connection made as before (TLS first), which
//! address it accepted that connection on. Only when that is a loopback address too (the
//! server runs here, not behind a port forwarded to another machine, whose traffic would
//! then cross the network in clear) is a plain connection tried, and used unless the
//! server refuses it (a `hostssl`-only `pg_hba.conf`). Anything that names TLS (`sslmode`,
//! a certificate, `PGSSLMODE`...) is followed as given.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};

/// Environment variables that say something about TLS (those sqlx reads). In the URL, every
/// parameter whose name starts with `ssl` does (`sslmode`, `ssl-mode`, `sslrootcert`,
/// `ssl-ca`, `sslcert`, `sslkey`... in sqlx's spellings).
const TLS_VARIABLES: [&str; 4] = ["PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"];

/// How long each of the (at most two) probe connections may take to open.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The options for `url`: as parsed, except that a server on this machine, reached at a
/// loopback address with no TLS setting anywhere, is reached without TLS when it accepts
/// that. Deciding takes up to two connections, each closed at once; when either fails for
/// any reason, the parsed options (TLS first) are returned and the pool's own connection
/// reports any error.
///
/// sqlx's `extra_float_digits` startup parameter is never sent: no column is a float, and
/// PgBouncer refuses the connection for it unless told to ignore it.
///
/// Errors: `url` does not parse.
pub(super) async fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.extra_float_digits(None);
    if !may_go_plain(url, &options, |name| std::env::var_os(name).is_some()) {
        return Ok(options);
    }
    match on_this_machine(&options).await {
        Ok(true) => {}
        Ok(false) => return Ok(options),
        Err(e) => {
            tracing::info!(error = %e, "PostgreSQL could not say where it runs; TLS first, as sqlx does");
            return Ok(options);
        }
    }
    let plain = options.clone().ssl_mode(PgSslMode::Disable);
    match probe(&plain).await {
        Ok(connection) => {
            // Closing only says goodbye; the decision is made.
            let _ = connection.close().await;
            Ok(plain)
        }
        Err(e) => {
            tracing::info!(error = %e, "a plain connection to PostgreSQL on this machine failed; TLS first");
            Ok(options)
        }
    }
}

/// Whether the server accepted a connection of `options` on a loopback address of its own
/// (`inet_server_addr()`): it runs on this machine.
async fn on_this_machine(options: &PgConnectOptions) -> Result<bool, sqlx::Error> {
    let mut connection = probe(options).await?;
    let address: Option<String> = sqlx::query_scalar("SELECT host(inet_server_addr())")
        .fetch_one(&mut connection)
        .await?;
    let _ = connection.close().await;
    Ok(is_loopback_address(address.as_deref()))
}

async fn probe(options: &PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    tokio::time::timeout(PROBE_TIMEOUT, options.connect())
        .await
        .unwrap_or_else(|_| Err(sqlx::Error::Io(std::io::ErrorKind::TimedOut.into())))
}

/// Whether the server is worth asking where it runs: a TCP host on a loopback address (or
/// `localhost`), and neither the URL's parameters (as sqlx reads them: decoded) nor the
/// environment (`is_set`) name anything about TLS.
fn may_go_plain(url: &str, options: &PgConnectOptions, is_set: impl Fn(&str) -> bool) -> bool {
    if options.get_socket().is_some() || !is_loopback(options.get_host()) {
        return false;
    }
    // sqlx parsed the same URL with the same crate: it cannot fail here.
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let names_tls = parsed.query_pairs().any(|(key, _)| key.starts_with("ssl"));
    !names_tls
        && matches!(options.get_ssl_mode(), PgSslMode::Prefer)
        && !TLS_VARIABLES.iter().any(|name| is_set(name))
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || is_loopback_address(Some(host))
}

/// `address` (as PostgreSQL's `host()` writes it; `None` for a Unix socket) is a loopback
/// address.
fn is_loopback_address(address: Option<&str>) -> bool {
    address
        .and_then(|address| IpAddr::from_str(address).ok())
        .is_some_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use super::*;

    fn plain(url: &str) -> bool {
        may_go_plain(url, &PgConnectOptions::from_str(url).unwrap(), |_| false)
    }

    #[test]
    fn only_a_loopback_host_with_nothing_said_about_tls_may_go_plain() {
        for url in [
            "postgres://u@127.0.0.1:5432/db",
            "postgres://u@127.0.0.2/db",
            "postgres://u@localhost/db",
            "postgresql://u:p@LOCALHOST/db?application_name=x",
            "postgres://u@[::1]:5432/db",
        ] {
            assert!(plain(url), "{url}");
        }
        for url in [
            "postgres://u@db.example.com/db",
            "postgres://u@10.0.0.5/db",
            "postgres://u@127.0.0.1/db?sslmode=prefer",
            "postgres://u@127.0.0.1/db?application_name=x&ssl-mode=require",
            "postgres://u@localhost/db?sslrootcert=/etc/ca.pem",
            "postgres://u@localhost/db?sslcert=/c.pem&sslkey=/k.pem",
            "postgres://u@localhost/db?ssl-key=/k.pem",
            "postgres://u@127.0.0.1/db?%73slmode=require",
            "postgres://u@127.0.0.1/db?ss\nlmode=require",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
        ] {
            assert!(!plain(url), "{url}");
        }
        let url = "postgres://u@127.0.0.1/db";
        let options = PgConnectOptions::from_str(url).unwrap();
        assert!(!may_go_plain(url, &options, |name| name == "PGSSLMODE"));
        assert!(!may_go_plain(url, &options, |name| name == "PGSSLROOTCERT"));
    }

    #[test]
    fn only_a_server_that_accepted_on_loopback_runs_on_this_machine() {
        for address in ["127.0.0.1", "127.3.2.1", "::1"] {
            assert!(is_loopback_address(Some(address)), "{address}");
        }
        for address in [
            Some("10.0.0.5"),
            Some("172.17.0.2"),
            Some("::2"),
            Some(""),
            None,
        ] {
            assert!(!is_loopback_address(address), "{address:?}");
        }
    }

    /// Whether a store's connection to `url` is encrypted.
    async fn encrypted(url: &str) -> bool {
        let store = crate::PgStore::open(url, 1).await.unwrap();
        let on = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut *store.reader().await.unwrap())
            .await
            .unwrap();
        store.pool.close().await;
        on
    }

    /// Whether the server of `url` offers TLS (`ssl = on`).
    async fn offers_tls(url: &str) -> bool {
        let mut admin = PgConnectOptions::from_str(url)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let offered: String = sqlx::query_scalar("SHOW ssl")
            .fetch_one(&mut admin)
            .await
            .unwrap();
        admin.close().await.ok();
        offered == "on"
    }

    /// A fresh test database whose server offers TLS; `None` (said on stderr) without one.
    async fn database_offering_tls() -> Option<crate::testing::PostgresTestDatabase> {
        let db = crate::testing::PostgresTestDatabase::create().await?;
        if offers_tls(&db.url).await {
            return Some(db);
        }
        eprintln!("the test server offers no TLS: skipped");
        db.drop_database().await;
        None
    }

    /// The store's own connections, on the test server (on this machine; CI's URL names no
    /// TLS): plain, and TLS when the URL asks for it.
    #[tokio::test]
    async fn a_store_on_this_machine_connects_without_tls_unless_the_url_asks_for_it() {
        let Some(db) = database_offering_tls().await else {
            return;
        };
        let parsed = PgConnectOptions::from_str(&db.url).unwrap();
        if may_go_plain(&db.url, &parsed, |name| std::env::var_os(name).is_some()) {
            assert!(!encrypted(&db.url).await, "plain on this machine");
        } else {
            eprintln!(
                "OSTIARY_TEST_POSTGRES_URL is not on loopback or names TLS: plain not checked"
            );
        }
        let separator = if db.url.contains('?') { '&' } else { '?' };
        let required = format!("{}{separator}sslmode=require", db.url);
        assert!(encrypted(&required).await, "TLS when the URL asks for it");
        db.drop_database().await;
    }

    /// A server on loopback that accepts only TLS (`hostssl` in `pg_hba.conf`), played by a
    /// port that hangs up on a plain startup and passes a TLS request on to the test server:
    /// the plain attempt fails and the store connects with TLS.
    #[tokio::test]
    async fn a_server_that_refuses_plain_connections_is_reached_with_tls() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let Some(db) = database_offering_tls().await else {
            return;
        };
        // The protocol's SSLRequest: length 8, then the code 80877103.
        const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        let parsed = url::Url::parse(&db.url).unwrap();
        let upstream = format!(
            "{}:{}",
            parsed.host_str().unwrap(),
            parsed.port().unwrap_or(5432)
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut via = parsed.clone();
        via.set_host(Some("127.0.0.1")).unwrap();
        via.set_port(Some(listener.local_addr().unwrap().port()))
            .unwrap();
        let plain_refused = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let refused = plain_refused.clone();
        let serving = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (upstream, refused) = (upstream.clone(), refused.clone());
                tokio::spawn(async move {
                    let mut first = [0; 8];
                    if inbound.read_exact(&mut first).await.is_err() {
                        return;
                    }
                    if first != SSL_REQUEST {
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                    let mut outbound = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                    outbound.write_all(&first).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        let url = via.to_string();
        assert!(may_go_plain(
            &url,
            &PgConnectOptions::from_str(&url).unwrap(),
            |_| false
        ));
        assert!(
            encrypted(&url).await,
            "TLS after the plain attempt was refused"
        );
        assert_eq!(
            plain_refused.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "one plain attempt"
        );
        serving.abort();
        db.drop_database().await;
    }
}
