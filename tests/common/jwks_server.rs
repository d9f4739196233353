//! A JWKS server of the tests' own, on loopback, plain or TLS: each path
//! answers as its [`Mode`] says, and every request is counted per path.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpListener,
};

/// How a path answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// 200 with this JSON body and, if given, this `Cache-Control`.
    Json(String, Option<String>),
    /// This status, with a small JSON body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 after this delay.
    Slow(Duration, String),
    /// 200 with a body of this many bytes; `declared`: with `Content-Length`
    /// (else the body ends when the connection closes).
    Huge { bytes: usize, declared: bool },
    /// 302 to this location.
    Redirect(String),
    /// The connection is closed without an answer.
    Reset,
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Mode>>,
    hits: Mutex<HashMap<String, usize>>,
}

pub struct JwksServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    tls: bool,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    /// A plain HTTP server.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// An HTTPS server with the test certificate for `localhost` and
    /// `127.0.0.1`, signed by `tests/keys/test-ca.pem`.
    pub async fn start_tls() -> Self {
        use tokio_rustls::rustls::{
            self,
            pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
        };
        let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
        let certs = CertificateDer::pem_file_iter(keys.join("tls-server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(keys.join("tls-server.key.pem")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        Self::start_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let shared = state.clone();
        let secure = tls.is_some();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, &state).await;
                            }
                        }
                        None => serve(stream, &state).await,
                    }
                });
            }
        });
        Self {
            addr,
            state,
            tls: secure,
            task,
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn set(&self, path: &str, mode: Mode) {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), mode);
    }

    /// Requests received for `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `{"keys": [...]}` of the given JWKs.
pub fn jwk_set(keys: &[serde_json::Value]) -> String {
    serde_json::json!({ "keys": keys }).to_string()
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, state: &State) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
        if request.len() > 16 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
    *state.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let mode = state.routes.lock().unwrap().get(&path).cloned();
    let (status, headers, body, declared) = match mode {
        None => (
            404,
            String::new(),
            r#"{"error":"not_found"}"#.to_owned(),
            true,
        ),
        Some(Mode::Json(body, cache)) => (
            200,
            cache
                .map(|c| format!("Cache-Control: {c}\r\n"))
                .unwrap_or_default(),
            body,
            true,
        ),
        Some(Mode::Status(code)) => (code, String::new(), r#"{"error":"x"}"#.to_owned(), true),
        Some(Mode::Garbage) => (200, String::new(), "<html>not a key set".to_owned(), true),
        Some(Mode::Slow(delay, body)) => {
            tokio::time::sleep(delay).await;
            (200, String::new(), body, true)
        }
        Some(Mode::Huge { bytes, declared }) => {
            let pad = "x".repeat(bytes.saturating_sub(20));
            (
                200,
                String::new(),
                format!(r#"{{"keys":[],"p":"{pad}"}}"#),
                declared,
            )
        }
        Some(Mode::Redirect(location)) => (
            302,
            format!("Location: {location}\r\n"),
            String::new(),
            true,
        ),
        Some(Mode::Reset) => return,
    };
    let length = if declared {
        format!("Content-Length: {}\r\n", body.len())
    } else {
        String::new()
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{length}{headers}Connection: close\r\n\r\n"
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}
