//! Keys from a JWKS URL against the same key from a PEM file, same run:
//! each pair is timed in alternation, ten rounds, median of per-round
//! ratios. Then a random-kid flood against a counting JWKS server on
//! loopback: fetches per minute (goal: at most 60 / cooldown).
//!
//! Run with `cargo bench --bench jwks`; `JWKS_FLOOD_SECS` sets the flood's
//! length (default 60 s, cooldown 10 s as the demo server's default).

use std::{
    hint::black_box,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

mod common;

use common::compare;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_jwt_session::{
    jwks::JwksSource, Algorithm, KeyPair, NewSession, PublicKey, SessionManager,
};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "example-api";

/// Serves `body` at every path on loopback and counts requests.
async fn jwks_server(body: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/jwks.json"), hits)
}

fn manager(builder: tower_jwt_session::SessionManagerBuilder, cache: u64) -> SessionManager {
    builder
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_verified_cache(cache)
        .build()
        .unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    println!("| algorithm | path | JWKS | PEM | JWKS / PEM |");
    println!("| --- | --- | --- | --- | --- |");
    for (alg, private, public) in [
        (Algorithm::ES256, "p256.pem", "p256.pub.pem"),
        (Algorithm::EdDSA, "ed25519.pem", "ed25519.pub.pem"),
        (Algorithm::RS256, "rsa2048.pem", "rsa2048.pub.pem"),
    ] {
        let read = |f: &str| {
            std::fs::read(format!("{}/tests/keys/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        };
        let signer = manager(
            SessionManager::builder(KeyPair::from_pkcs8_pem(alg, &read(private)).unwrap()),
            0,
        );
        let token = signer
            .issue(NewSession::new("u-1", "ada@example.com"))
            .unwrap()
            .into_token();
        let pem = PublicKey::from_spki_pem(alg, &read(public)).unwrap();
        let body = serde_json::json!({ "keys": [pem.to_jwk()] }).to_string();
        let (url, _) = rt.block_on(jwks_server(body));
        let source = JwksSource::builder(url, alg).build().unwrap();
        while !source.is_ready() {
            std::thread::sleep(Duration::from_millis(5));
        }
        for (path, cache, n) in [
            ("verified-token cache hit", 10_000, 200_000),
            ("full verification", 0, 2_000),
        ] {
            let from_pem = manager(
                SessionManager::verify_only().with_public_key(pem.clone()),
                cache,
            );
            let from_jwks = manager(
                SessionManager::verify_only().with_jwks(source.clone()),
                cache,
            );
            let (p, j, r) = compare(
                n,
                || {
                    black_box(from_pem.decode(black_box(&token)).unwrap());
                },
                || {
                    black_box(from_jwks.decode(black_box(&token)).unwrap());
                },
            );
            println!("| {alg} | {path} | {j:.3} µs | {p:.3} µs | {r:.3}x |");
        }
    }

    // The flood: tokens with random kids, as fast as one task sends them.
    let secs: u64 = std::env::var("JWKS_FLOOD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let cooldown = Duration::from_secs(10);
    let pem = PublicKey::from_spki_pem(
        Algorithm::ES256,
        include_bytes!("../tests/keys/p256.pub.pem"),
    )
    .unwrap();
    let body = serde_json::json!({ "keys": [pem.to_jwk()] }).to_string();
    let (sent, fetches, elapsed) = rt.block_on(async move {
        let (url, hits) = jwks_server(body).await;
        let source = JwksSource::builder(url, Algorithm::ES256)
            .with_cooldown(cooldown)
            .build()
            .unwrap();
        let verifier = manager(
            SessionManager::verify_only().with_jwks(source.clone()),
            10_000,
        );
        while !source.is_ready() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let before = hits.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut sent = 0u64;
        let payload = "eyJzdWIiOiJ1In0";
        let sig = "A".repeat(86);
        while started.elapsed() < Duration::from_secs(secs) {
            use base64::Engine;
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!(r#"{{"alg":"ES256","kid":"k{sent}"}}"#));
            let token = format!("{header}.{payload}.{sig}");
            assert!(verifier.verify(&token).await.is_err());
            sent += 1;
            if sent.is_multiple_of(1000) {
                tokio::task::yield_now().await;
            }
        }
        (
            sent,
            hits.load(Ordering::Relaxed) - before,
            started.elapsed(),
        )
    });
    let per_minute = fetches as f64 * 60.0 / elapsed.as_secs_f64();
    println!(
        "\nrandom-kid flood: {sent} tokens over {:.1} s ({:.0}/s), {fetches} fetches = {per_minute:.1} per minute (goal <= 60 / {} s = {:.1})",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        cooldown.as_secs(),
        60.0 / cooldown.as_secs_f64()
    );
}
