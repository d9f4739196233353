//! Opaque tokens against JWTs, same run: a cached introspection answer
//! against a verified-token cache hit (each pair timed in alternation, ten
//! rounds, median of per-round ratios), then the cost of a miss, a request
//! to an introspection endpoint on loopback (a minimal HTTP/1.1 server
//! answering one fixed active answer, keep-alive), against a JWT verified
//! from scratch.
//!
//! Run with `cargo bench --bench introspection`.

use std::{hint::black_box, time::Instant};

mod common;

use common::compare;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_jwt_session::{
    introspection::Introspection, issuers::TrustedIssuer, Algorithm, SessionManager,
};

const ISSUER: &str = "https://idp.example.com";
const AUDIENCE: &str = "orders-api";
const SECRET: &str = "the identity provider's secret, 32+ bytes long";

/// Answers every request on one connection with an active answer, until
/// the client closes it.
async fn endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = serde_json::json!({
        "active": true, "token_type": "Bearer", "iss": ISSUER, "aud": AUDIENCE,
        "sub": "alice", "client_id": "web", "scope": "api:read admin",
        "exp": now + 3600, "iat": now,
    })
    .to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    // One whole request: headers and a body of
                    // Content-Length bytes.
                    let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if seen.len() < end + 4 + length {
                        continue;
                    }
                    seen.drain(..end + 4 + length);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/introspect")
}

fn manager(url: &str, cache_secs: u64, verified_cache: u64) -> SessionManager {
    SessionManager::verify_only()
        .with_verified_cache(verified_cache)
        .with_trusted_issuer(
            TrustedIssuer::with_secret(ISSUER, Algorithm::HS256, SECRET)
                .with_audience(AUDIENCE)
                .with_introspection(
                    Introspection::client_secret_basic("orders-api", "secret")
                        .with_endpoint(url)
                        .with_cache_ttl(std::time::Duration::from_secs(cache_secs)),
                ),
        )
        .build()
        .unwrap()
}

fn jwt() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "client_id": "web",
        "scope": "api:read admin", "exp": now + 3600, "iat": now, "jti": "j-1",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let url = rt.block_on(endpoint());
    let opaque = "2YotnFZFEjr1zCsicMWpAA-an-opaque-access-token";
    let jwt = jwt();

    println!("| path | JWT | opaque | opaque / JWT |");
    println!("| --- | --- | --- | --- |");
    // Hits: the verified-token cache (JWT) against the introspection cache
    // (opaque, its SHA-256 the key); signature and claims already checked.
    let cached = manager(&url, 60, 10_000);
    rt.block_on(cached.verify(opaque)).unwrap();
    rt.block_on(cached.verify(jwt.as_str())).unwrap();
    let (j, o, ratio) = compare(
        200_000,
        || {
            black_box(cached.decode(black_box(jwt.as_str())).unwrap());
        },
        || {
            black_box(cached.decode(black_box(opaque)).unwrap());
        },
    );
    println!("| cache hit (decode) | {j:.3} µs | {o:.3} µs | {ratio:.2} |");

    // Misses: a JWT verified from scratch (HS256, no cache) against a
    // request to the endpoint on loopback (no cache).
    let cold = manager(&url, 0, 0);
    rt.block_on(cold.verify(opaque)).unwrap();
    let (j, o, ratio) = compare(
        500,
        || {
            black_box(rt.block_on(cold.verify(black_box(jwt.as_str()))).unwrap());
        },
        || {
            black_box(rt.block_on(cold.verify(black_box(opaque))).unwrap());
        },
    );
    println!("| miss (verify, loopback endpoint) | {j:.3} µs | {o:.3} µs | {ratio:.0} |");

    // The same miss, sequential requests per second.
    let started = Instant::now();
    let n = 2_000;
    for _ in 0..n {
        rt.block_on(cold.verify(opaque)).unwrap();
    }
    println!(
        "\nintrospections on loopback, one at a time: {:.0} per second",
        f64::from(n) / started.elapsed().as_secs_f64()
    );
}
