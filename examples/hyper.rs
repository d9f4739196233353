//! A bare hyper 1 server behind `SessionLayer`: no framework.
//!
//! Run with
//!
//! ```sh
//! cargo run --example hyper
//! ```
//!
//! It prints `listening on http://ADDR`, then `token: <JWT>`, a token for a
//! demo user. Try
//!
//! ```sh
//! curl -i localhost:3001/                                   # 401, WWW-Authenticate: Bearer
//! curl -i localhost:3001/ -H "authorization: Bearer <JWT>"  # 200, hello u-demo
//! ```

use std::{convert::Infallible, net::SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, Request, Response};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tower::ServiceBuilder;
use tower_jwt_session::{NewSession, SessionData, SessionLayer, SessionManager};

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // The layer guarantees a session here (required mode).
    let who = req
        .extensions()
        .get::<SessionData>()
        .map_or("nobody", |s| s.user_id())
        .to_owned();
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello {who}\n"
    )))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("SESSION_SECRET")
        .unwrap_or_else(|_| "an example secret, at least thirty-two bytes long".to_owned());
    let manager = SessionManager::builder(secret)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()?;
    let demo = manager.issue(NewSession::new("u-demo", "demo@example.com"))?;

    let addr: SocketAddr = std::env::var("BIND_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3001".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!("token: {}", demo.token());

    let service = ServiceBuilder::new()
        .layer(SessionLayer::new(manager))
        .service_fn(hello);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("connection error: {e}");
            }
        });
    }
}
