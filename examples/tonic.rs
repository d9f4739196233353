//! A tonic gRPC server behind `SessionLayer`: the standard health service,
//! reachable only with a session token. Refusals are gRPC statuses
//! (`UNAUTHENTICATED`, `PERMISSION_DENIED`, `UNAVAILABLE`).
//!
//! ```sh
//! cargo run --example tonic
//! # prints `listening on http://ADDR` and `token: <JWT>`; then, with grpcurl:
//! grpcurl -plaintext -H "authorization: Bearer <JWT>" ADDR grpc.health.v1.Health/Check
//! ```

use std::net::SocketAddr;

use tonic::transport::Server;
use tower_jwt_session::{NewSession, SessionLayer, SessionManager};

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
        .unwrap_or_else(|_| "127.0.0.1:50051".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!("token: {}", demo.token());

    let (_reporter, health) = tonic_health::server::health_reporter();
    Server::builder()
        .layer(SessionLayer::new(manager))
        .add_service(health)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
        .await?;
    Ok(())
}
