//! A plain-HTTP server on a loopback port that serves client ID metadata documents (or
//! whatever a test makes it answer), counting every connection made to it, so a test can
//! prove that nothing reached it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answer of the document server.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sent with `Transfer-Encoding: chunked` instead of a `Content-Length`.
    pub chunked: bool,
}

impl Reply {
    /// `200`, `application/json`.
    pub fn json(document: &serde_json::Value) -> Self {
        Self::raw(200, "application/json", document.to_string().into_bytes())
    }

    pub fn raw(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            chunked: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
}

#[derive(Default)]
struct Served {
    replies: Mutex<HashMap<String, Reply>>,
    requests: Mutex<HashMap<String, usize>>,
    connections: AtomicUsize,
}

/// The server; it runs until the test ends.
#[derive(Clone)]
pub struct DocumentServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub port: u16,
    served: Arc<Served>,
}

impl DocumentServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let served = Arc::new(Served::default());
        let serving = served.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                serving.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(answer(stream, serving.clone()));
            }
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            served,
        }
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers `path` with `reply` from now on (unknown paths get 404).
    pub fn serve(&self, path: &str, reply: Reply) {
        self.served
            .replies
            .lock()
            .unwrap()
            .insert(path.to_owned(), reply);
    }

    /// Requests received for `path`.
    pub fn requests(&self, path: &str) -> usize {
        *self.served.requests.lock().unwrap().get(path).unwrap_or(&0)
    }

    /// TCP connections accepted, whatever came over them (a TLS handshake counts too).
    pub fn connections(&self) -> usize {
        self.served.connections.load(Ordering::SeqCst)
    }
}

async fn answer(mut stream: tokio::net::TcpStream, served: Arc<Served>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&request);
    let Some(path) = head.split_whitespace().nth(1).map(str::to_owned) else {
        return;
    };
    *served
        .requests
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default() += 1;
    let reply = served.replies.lock().unwrap().get(&path).cloned();
    let reply = reply.unwrap_or_else(|| Reply::raw(404, "text/plain", b"not found".to_vec()));
    let mut response = format!("HTTP/1.1 {} Answer\r\nconnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut bytes = if reply.chunked {
        response.push_str("transfer-encoding: chunked\r\n\r\n");
        let mut bytes = response.into_bytes();
        for chunk in reply.body.chunks(1024) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        bytes
    } else {
        response.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len()));
        response.into_bytes()
    };
    if !reply.chunked {
        bytes.extend_from_slice(&reply.body);
    }
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}
