//! The accept loop of every listener: a cap on open connections, header and idle timeouts,
//! HTTP/2 keep-alive pings, and the drain on shutdown.
//!
//! `axum::serve` offers none of these (its hyper builder cannot be configured), so this is
//! its loop with hyper-util's builder configured: a socket that trickles its headers, sends
//! nothing, or sits idle is closed, and no number of such sockets can use up the descriptors
//! the server needs to answer anyone else.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::{Connected, IntoMakeServiceWithConnectInfo};
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

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

/// Binds a listener with [`LISTEN_BACKLOG`] (the kernel caps it at `net.core.somaxconn`).
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
/// once every open connection has finished its requests and closed.
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: Limits,
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
        tokio::spawn(connection(
            stream,
            service,
            builder.clone(),
            limits,
            Held {
                _permit: permit,
                _open: opened.clone(),
            },
            stopped.clone(),
        ));
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

/// How many requests of one connection are in flight, from the request's arrival to the
/// last byte of its response.
#[derive(Clone)]
struct InFlight(Arc<watch::Sender<usize>>);

struct InFlightGuard(Arc<watch::Sender<usize>>);

impl InFlight {
    fn start(&self) -> InFlightGuard {
        self.0.send_modify(|n| *n += 1);
        InFlightGuard(self.0.clone())
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// One connection: served by hyper, watched for idleness, closed at shutdown.
async fn connection(
    stream: TcpStream,
    service: axum::middleware::AddExtension<Router, axum::extract::ConnectInfo<SocketAddr>>,
    builder: Arc<Builder<TokioExecutor>>,
    limits: Limits,
    _held: Held,
    mut stopped: watch::Receiver<()>,
) {
    let (tracker, mut in_flight) = {
        let (sender, receiver) = watch::channel(0_usize);
        (InFlight(Arc::new(sender)), receiver)
    };
    let requests = tracker.clone();
    let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let guard = requests.start();
        let response = service.clone().oneshot(request);
        async move {
            let Ok(response) = response.await;
            // The guard lives as long as the response body, so a response still being
            // written keeps the connection from counting as idle.
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _held_until_sent = &guard;
                    frame
                }))
            }))
        }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
    tokio::pin!(connection);
    // The first request's headers must arrive within the header timeout whatever the
    // protocol: this also covers a socket that never sends the bytes hyper-util reads to
    // tell HTTP/1 from HTTP/2, which hyper's own header timer does not see.
    let mut deadline = Instant::now() + limits.header_timeout;
    let mut closing = false;
    loop {
        let idle = *in_flight.borrow_and_update() == 0;
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection closed with an error");
                }
                break;
            }
            _ = in_flight.changed() => {
                if *in_flight.borrow() == 0 {
                    deadline = Instant::now() + limits.idle_timeout;
                }
            }
            () = tokio::time::sleep_until(deadline), if idle => {
                if closing {
                    // Asked to close and still open with nothing in flight: drop it.
                    break;
                }
                tracing::debug!("closing an idle connection");
                connection.as_mut().graceful_shutdown();
                closing = true;
                deadline = Instant::now() + limits.header_timeout;
            }
            _ = stopped.changed(), if !closing => {
                // In-flight requests finish; HTTP/2 peers get a GOAWAY.
                connection.as_mut().graceful_shutdown();
                closing = true;
                deadline = Instant::now() + limits.idle_timeout;
            }
        }
    }
    drop(tracker);
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
