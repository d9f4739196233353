//! The load benchmark's server. `scripts/load.sh` builds it, starts one
//! variant at a time on a pinned core and drives it with wrk.
//!
//! Usage:
//!   tower-jwt-session-load VARIANT BIND_ADDR [REDIS_URL]
//!   tower-jwt-session-load flood COUNT
//!
//! Variants: `bare` (axum, no auth), `layer` (SessionLayer, in-memory
//! blocklist, verified-token cache off), `layer-cache` (the default: cache
//! on), `layer-redis` (cache on, cached Redis blocklist), `jwt-authorizer`
//! (jwt-authorizer 0.15 with the same secret, issuer and audience).
//!
//! On start it prints `listening on http://ADDR`, `token: <valid JWT>` and
//! `forged: <same JWT with a bad signature>`.

use std::{net::SocketAddr, time::Duration};

use axum::{routing::get, Router};
use jwt_authorizer::{IntoLayer, JwtAuthorizer, Validation};
use serde::Deserialize;
use tower_jwt_session::{blocklist::RedisBlocklist, NewSession, SessionLayer, SessionManager};

const SECRET: &str = "load-benchmark-secret-that-is-long-enough-for-hs256";

/// The seed's claims, for jwt-authorizer.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code, non_snake_case)]
struct Claims {
    userId: String,
    email: String,
    role: String,
    companyId: Option<String>,
    permissions: Vec<String>,
    metadata: serde_json::Map<String, serde_json::Value>,
    createdAt: i64,
    expiresAt: i64,
    sub: String,
}

fn seed_shaped(manager: &SessionManager, user: &str) -> String {
    manager
        .issue(
            NewSession::new(user, "admin@example.com")
                .with_role("admin")
                .with_company_id("acme")
                .with_permissions(["contacts:read", "contacts:write", "admin"])
                .with_metadata(serde_json::json!({"name": "Ada Admin", "team": "accounts, north-east region"})),
        )
        .expect("issue")
        .into_token()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Verifies `count` distinct valid tokens through the manager and the
/// blocklist, printing the peak RSS as it goes: every cache is bounded, so
/// it must stay flat.
fn flood(count: u64) {
    let manager = SessionManager::builder(SECRET).with_issuer("atomic-crm").with_audience("atomic-crm-api").build().expect("manager");
    let blocklist = manager.blocklist().clone();
    println!("| tokens verified | peak RSS (MiB) | verified-token cache entries |");
    println!("| --- | --- | --- |");
    for i in 1..=count {
        let token = seed_shaped(&manager, &format!("u-{i}"));
        let session = manager.decode(&token).expect("valid");
        let _ = blocklist.try_check(session.revocation_key(), session.user_id());
        if i % (count / 10).max(1) == 0 {
            println!(
                "| {i} | {:.1} | {} |",
                peak_rss_kib() as f64 / 1024.0,
                manager.verified_cache_len()
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let variant = args.get(1).map(String::as_str).unwrap_or("bare");
    if variant == "flood" {
        flood(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1_000_000));
        return;
    }
    let bind: SocketAddr = args
        .get(2)
        .map(String::as_str)
        .unwrap_or("127.0.0.1:0")
        .parse()
        .expect("bind address");
    let redis_url = args.get(3).cloned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(serve(variant.to_owned(), bind, redis_url));
}

async fn serve(variant: String, bind: SocketAddr, redis_url: Option<String>) {
    let minting = SessionManager::builder(SECRET).with_issuer("atomic-crm").with_audience("atomic-crm-api").build().expect("manager");
    let token = seed_shaped(&minting, "u-admin");
    let forged = format!("{}AAAA", &token[..token.len() - 4]);
    let hello = Router::new().route("/", get(|| async { "ok" }));
    let app = match variant.as_str() {
        "bare" => hello,
        "layer" => {
            let m = SessionManager::builder(SECRET).with_issuer("atomic-crm").with_audience("atomic-crm-api").with_verified_cache(0).build().expect("manager");
            hello.layer(SessionLayer::new(m))
        }
        "layer-cache" => hello.layer(SessionLayer::new(minting.clone())),
        "layer-redis" => {
            let url = redis_url.expect("layer-redis needs a REDIS_URL argument");
            let list = RedisBlocklist::builder(url).build().expect("redis").into_replica();
            while !list.is_ready() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let m = SessionManager::builder(SECRET).with_issuer("atomic-crm").with_audience("atomic-crm-api").with_blocklist(list).build().expect("manager");
            hello.layer(SessionLayer::new(m))
        }
        "jwt-authorizer" => {
            let auth = JwtAuthorizer::<Claims>::from_secret(SECRET)
                .validation(Validation::new().iss(&["atomic-crm"]).aud(&["atomic-crm-api"]))
                .build()
                .await
                .expect("jwt-authorizer");
            hello.layer(auth.into_layer())
        }
        other => panic!("unknown variant {other}"),
    };
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().expect("addr"));
    println!("token: {token}");
    println!("forged: {forged}");
    axum::serve(listener, app).await.expect("serve");
}
