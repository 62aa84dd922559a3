//! Fresh PostgreSQL databases for tests (this crate's store suite and the server's): one new
//! database per test, created through `OSTIARY_TEST_POSTGRES_URL` and dropped afterwards.
//! Never used by the server itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::io::AsyncWriteExt;

mod pooler;
pub use pooler::{PoolerOptions, Startup};

/// A proxy's pooler side: how it reads `options`, and each connection's start so far.
type Pooler = (PoolerOptions, Arc<Mutex<Vec<Startup>>>);

/// A database created for one test. Call `drop_database` when the test is done.
#[derive(Debug)]
pub struct PostgresTestDatabase {
    admin_url: String,
    name: String,
    /// The URL of the new database, for `Database::open` or `OAUTH2_DATABASE_URL`.
    pub url: String,
}

impl PostgresTestDatabase {
    /// A new, empty database; `None` (with a note on stderr) when `OSTIARY_TEST_POSTGRES_URL`
    /// is not set. With `OSTIARY_REQUIRE_POSTGRES` set (CI), a missing setting or an
    /// unreachable server panics instead of skipping.
    pub async fn create() -> Option<Self> {
        let required = std::env::var_os("OSTIARY_REQUIRE_POSTGRES").is_some();
        let Ok(admin_url) = std::env::var("OSTIARY_TEST_POSTGRES_URL") else {
            assert!(
                !required,
                "OSTIARY_REQUIRE_POSTGRES is set but OSTIARY_TEST_POSTGRES_URL is not"
            );
            eprintln!("skipped: OSTIARY_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = unique_name();
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(e) => panic!("cannot reach PostgreSQL at OSTIARY_TEST_POSTGRES_URL: {e}"),
        };
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
        {
            panic!("cannot create test database {name}: {e}");
        }
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// Runs `sql` in the database: for tests that take part of the schema away to see the
    /// server survive a database that refuses its writes.
    pub async fn execute(&self, sql: &str) {
        let mut conn = match PgConnection::connect(&self.url).await {
            Ok(conn) => conn,
            Err(e) => panic!("cannot reach test database {}: {e}", self.name),
        };
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
        {
            panic!("test SQL {sql:?} failed: {e}");
        }
        conn.close().await.ok();
    }

    /// How many connections to the database listen for change announcements (their last
    /// statement was a `LISTEN`): instances that will hear what others change.
    pub async fn listeners(&self) -> i64 {
        let mut conn = match PgConnection::connect(&self.url).await {
            Ok(conn) => conn,
            Err(e) => panic!("cannot reach test database {}: {e}", self.name),
        };
        let listening = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1 \
             AND query LIKE 'LISTEN %'",
        )
        .bind(crate::postgres::LISTENER)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("counting listeners failed: {e}"));
        conn.close().await.ok();
        listening
    }

    /// Drops the database, ending any connection still open to it.
    pub async fn drop_database(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                .execute(&mut admin)
                .await;
            admin.close().await.ok();
        }
    }
}

/// Ends the connections that listen for change announcements on `db` (PostgreSQL), as a
/// network failure or a restarted database would; nothing on SQLite.
pub async fn terminate_listeners(db: &crate::Database) {
    let crate::Database::Postgres(store) = db else {
        return;
    };
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(crate::postgres::LISTENER)
    .execute(&store.pool)
    .await
    .unwrap_or_else(|e| panic!("terminating listeners failed: {e}"));
}

/// A connection to `db` of its own, outside the store's pool, for tests that hold row locks
/// while the store works: `None` on SQLite.
pub async fn postgres_connection(db: &crate::Database) -> Option<sqlx::PgConnection> {
    use sqlx::ConnectOptions;
    let crate::Database::Postgres(store) = db else {
        return None;
    };
    let connection = store.pool.connect_options().connect().await;
    Some(connection.unwrap_or_else(|e| panic!("connecting to PostgreSQL failed: {e}")))
}

/// A TCP proxy on a loopback port, for tests of a database that goes away: `cut` refuses new
/// connections and resets open ones, `restore` lets them through again on the same port, and
/// `silence` leaves open connections open but carrying nothing (a half-open connection).
/// [`TcpProxy::pooler_to_postgres`] stands in for PgBouncer as well.
#[derive(Debug)]
pub struct TcpProxy {
    pub addr: std::net::SocketAddr,
    upstream: String,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    /// Told to every pipe open when `silence` is called.
    silence: Arc<tokio::sync::Notify>,
    /// As a pooler: how it reads `options`, and each connection's start, in arrival order.
    pooler: Option<Pooler>,
}

impl TcpProxy {
    /// A proxy to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        Self::bind(upstream, None).await
    }

    /// A proxy to the server of the PostgreSQL `url`, and `url` through it.
    pub async fn to_postgres(url: &str) -> (Self, String) {
        Self::in_front_of_postgres(url, None).await
    }

    /// A stand-in for PgBouncer with its default settings in front of the server of the
    /// PostgreSQL `url`, and `url` through it: it declines TLS, refuses a startup with a
    /// parameter it does not track (reading `options` as `rules` say) with PgBouncer's
    /// message, and passes the rest through. [`TcpProxy::startups`] tells how each went.
    pub async fn pooler_to_postgres(url: &str, rules: PoolerOptions) -> (Self, String) {
        Self::in_front_of_postgres(url, Some((rules, Arc::default()))).await
    }

    async fn in_front_of_postgres(url: &str, pooler: Option<Pooler>) -> (Self, String) {
        let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        let host = parsed.host_str().unwrap_or("127.0.0.1");
        let upstream = format!("{host}:{}", parsed.port().unwrap_or(5432));
        let proxy = Self::bind(upstream, pooler).await;
        let mut via = parsed.clone();
        let _ = via.set_host(Some("127.0.0.1"));
        let _ = via.set_port(Some(proxy.addr.port()));
        (proxy, via.to_string())
    }

    async fn bind(upstream: String, pooler: Option<Pooler>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding the proxy failed: {e}"));
        let proxy = Self {
            addr: listener
                .local_addr()
                .unwrap_or_else(|e| panic!("the proxy has no address: {e}")),
            upstream,
            tasks: Arc::default(),
            silence: Arc::default(),
            pooler,
        };
        proxy.serve(listener);
        proxy
    }

    /// As a pooler: every connection's start so far, in arrival order; empty for a plain
    /// proxy.
    pub fn startups(&self) -> Vec<Startup> {
        self.pooler
            .as_ref()
            .map(|(_, startups)| lock(startups).clone())
            .unwrap_or_default()
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (upstream, tasks, silence, pooler) = (
            self.upstream.clone(),
            self.tasks.clone(),
            self.silence.clone(),
            self.pooler.clone(),
        );
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (upstream, silence, pooler) =
                    (upstream.clone(), silence.clone(), pooler.clone());
                let pipe = tokio::spawn(async move {
                    let silenced = silence.notified();
                    let startup = match &pooler {
                        Some((rules, startups)) => {
                            match pooler::start(&mut inbound, *rules, startups).await {
                                Some(startup) => Some(startup),
                                None => return,
                            }
                        }
                        None => None,
                    };
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    if let Some(startup) = startup
                        && outbound.write_all(&startup).await.is_err()
                    {
                        return;
                    }
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = silenced => std::future::pending::<()>().await,
                    }
                });
                lock(&tasks).push(pipe.abort_handle());
            }
        });
        lock(&self.tasks).push(accept.abort_handle());
    }

    /// The database is gone: new connections are refused and open ones die.
    pub fn cut(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }

    /// The database is back, at the same address.
    pub async fn restore(&self) {
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
    }

    /// Open connections stay open and carry nothing more, either way; new ones work.
    pub fn silence(&self) {
        self.silence.notify_waiters();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unique across the processes and threads of one test run.
fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "ostiary_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// `url` with its database (the path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/test", "x"),
            "postgres://u@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
