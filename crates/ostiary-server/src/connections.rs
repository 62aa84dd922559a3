//! The accept loop of every listener: a cap on open connections, header and idle timeouts,
//! HTTP/2 keep-alive pings, the drain on shutdown, and TLS where the listener has it.
//!
//! `axum::serve` offers none of these (its hyper builder cannot be configured), so this is
//! its loop with hyper-util's builder configured: a socket that trickles its headers, sends
//! nothing, or sits idle is closed, and no number of such sockets can use up the descriptors
//! the server needs to answer anyone else.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::{Connected, IntoMakeServiceWithConnectInfo};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::tls::Tls;

/// What every connection of one listener is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// A request's line and headers must arrive within this time.
    pub header_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
}

/// The peer of an accepted connection: what handlers read as `ConnectInfo<SocketAddr>`.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<Peer> for SocketAddr {
    fn connect_info(peer: Peer) -> Self {
        peer.0
    }
}

pub type App = IntoMakeServiceWithConnectInfo<Router, SocketAddr>;

/// Connections beyond the cap wait in the listen backlog, and a burst of new clients waits
/// there while the server is busy for a moment; std's (and so tokio's) 128 is soon full, and
/// then the kernel drops SYNs that the client only retries a second later.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds a listener with a backlog of `LISTEN_BACKLOG` (1024; the kernel caps it at
/// `net.core.somaxconn`).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std does on Unix: a restarted server can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and returns
/// once every open connection has finished its requests and closed. With `tls`, every
/// connection is a TLS one (its handshake held to the header timeout); without, plain HTTP.
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: Limits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Arc::new(builder(limits));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Connections watch `stop` (dropped at shutdown); the server waits until every
    // connection has dropped its `open` receiver.
    let (stop, stopped) = watch::channel(());
    let (open, opened) = watch::channel(());
    let mut last_full: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        if permits.available_permits() == 0
            && last_full.is_none_or(|at| at.elapsed() > Duration::from_secs(60))
        {
            tracing::warn!(
                max = limits.max_connections,
                "connection cap reached; new connections wait until one closes"
            );
            last_full = Some(Instant::now());
        }
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        let Ok(service) = app.clone().oneshot(Peer(peer)).await;
        let held = Held {
            _permit: permit,
            _open: opened.clone(),
        };
        let (builder, mut stopped, tls) = (builder.clone(), stopped.clone(), tls.clone());
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return connection(stream, service, builder, limits, held, stopped).await;
            };
            // In the connection's own task, so a slow handshake holds up no other; its
            // permit is held meanwhile, and shutdown does not wait for it.
            let stream = tokio::select! {
                stream = tls.accept(stream, limits.header_timeout) => stream,
                _ = stopped.changed() => None,
            };
            if let Some(stream) = stream {
                connection(stream, service, builder, limits, held, stopped).await;
            }
        });
    }
    drop(listener);
    drop(stop);
    drop(opened);
    tracing::debug!(
        connections = open.receiver_count(),
        "waiting for connections to finish"
    );
    open.closed().await;
}

/// hyper-util's server builder, HTTP/1 and HTTP/2 (prior knowledge) as `axum::serve` offers.
fn builder(limits: Limits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    // hyper's header timer runs from the start of each request's head, including while a
    // kept-alive connection waits for its next request: a trickled head is cut off.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // Pings find peers that vanished without closing; one that does not answer within the
    // header timeout (our patience with any peer) is dropped.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    builder
}

/// Held for a connection's lifetime: its place under the cap, and its part in the drain.
struct Held {
    _permit: OwnedSemaphorePermit,
    _open: watch::Receiver<()>,
}

/// What the idle watchdog of one connection reads: requests in flight, and when the last
/// one finished. Kept in atomics, so a request costs two counter updates and a clock read;
/// the watchdog wakes only when its own deadline passes (not with every request), and then
/// decides from these whether the connection was idle all along.
struct Activity {
    since: Instant,
    in_flight: AtomicUsize,
    /// Nanoseconds after `since` at which the last request finished.
    last_done: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
        }
    }

    fn start(self: &Arc<Self>) -> ActivityGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        ActivityGuard(self.clone())
    }

    /// Whether any request has finished on this connection.
    fn served(&self) -> bool {
        self.last_done.load(Ordering::Relaxed) > 0
    }

    /// When the connection may be closed as idle: `None` while a request is in flight.
    fn idle_deadline(&self, idle_timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = Duration::from_nanos(self.last_done.load(Ordering::Relaxed));
        Some(self.since + last + idle_timeout)
    }
}

/// Held from a request's arrival until its response is handed to hyper (whose graceful
/// shutdown, the only way the watchdog closes a connection, still finishes writing it).
struct ActivityGuard(Arc<Activity>);

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        // At least 1: zero means no request has finished yet.
        let done = u64::try_from(self.0.since.elapsed().as_nanos()).map_or(u64::MAX, |n| n.max(1));
        self.0.last_done.fetch_max(done, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Release);
    }
}

/// One connection (TCP, or TLS once its handshake is done): served by hyper, watched for
/// idleness, closed at shutdown.
async fn connection<S>(
    stream: S,
    service: axum::middleware::AddExtension<Router, axum::extract::ConnectInfo<SocketAddr>>,
    builder: Arc<Builder<TokioExecutor>>,
    limits: Limits,
    _held: Held,
    mut stopped: watch::Receiver<()>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let requests = activity.clone();
    let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let guard = requests.start();
        let response = service.clone().oneshot(request);
        async move {
            let Ok(response) = response.await;
            drop(guard);
            Ok::<_, Infallible>(response)
        }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
    tokio::pin!(connection);
    // One timer per connection, re-armed only when it fires. Until a request has been
    // served it is the first request's deadline (the header timeout), whatever the protocol:
    // this also covers a socket that never sends the bytes hyper-util reads to tell HTTP/1
    // from HTTP/2, which hyper's own header timer does not see. Afterwards it is the idle
    // deadline: the idle timeout after the last request finished.
    let watchdog = tokio::time::sleep(limits.header_timeout);
    tokio::pin!(watchdog);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection closed with an error");
                }
                break;
            }
            () = &mut watchdog => {
                let now = Instant::now();
                let next = match activity.idle_deadline(limits.idle_timeout) {
                    None => Some(now + limits.idle_timeout),
                    Some(_) if closing => None,
                    Some(at) => (activity.served() && at > now).then_some(at),
                };
                match next {
                    Some(at) => watchdog.as_mut().reset(at),
                    // Asked to close, still open and idle: drop it.
                    None if closing => break,
                    None => {
                        tracing::debug!("closing an idle connection");
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                        watchdog.as_mut().reset(now + limits.header_timeout);
                    }
                }
            }
            _ = stopped.changed(), if !closing => {
                // In-flight requests finish; HTTP/2 peers get a GOAWAY.
                connection.as_mut().graceful_shutdown();
                closing = true;
                watchdog.as_mut().reset(Instant::now() + limits.idle_timeout);
            }
        }
    }
}

/// As hyper and axum do: a connection the peer reset before it was accepted is skipped; any
/// other error (the descriptor limit, despite the cap) is logged and retried after a pause
/// instead of spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
