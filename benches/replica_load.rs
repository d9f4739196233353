//! Start-up of a replica over a stream of N live revocations (default
//! 1 000 000; `REVOCATIONS=n`): time until it answers, and the resident
//! memory it takes. Then: propagation between two replicas (p50, p99 over
//! 1 000 revocations made on one and polled on the other).
//!
//! Run with `cargo bench --bench replica_load` (needs `redis-server` and
//! `redis-cli`; starts its own Redis on a free loopback port).

mod common;

use std::time::{Duration, Instant};

use common::{fill_redis_stream, now_secs as now, rss_mib, Redis};
use tower_jwt_session::blocklist::{Blocklist, RedisBlocklist, TokenKey};

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("REVOCATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let redis = Redis::start();
    let filled = Instant::now();
    fill_redis_stream(&redis, n);
    println!(
        "stream filled with {n} revocations in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    let rss_before = rss_mib();
    let started = Instant::now();
    let replica = RedisBlocklist::builder(redis.url())
        .with_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
        .into_replica();
    while !replica.is_ready() {
        assert!(started.elapsed() < Duration::from_secs(120), "not ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ready = started.elapsed();
    let facts = replica.stored_facts();
    println!(
        "replica ready in {:.2} s with {facts} facts; rss grew by {:.1} MiB",
        ready.as_secs_f64(),
        rss_mib() - rss_before
    );

    // Propagation between two replicas.
    let other = RedisBlocklist::builder(redis.url())
        .build()
        .unwrap()
        .into_replica();
    while !other.is_ready() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut delays = Vec::new();
    for i in 0..1000 {
        let key = TokenKey::from_jti(&format!("p-{i}"));
        replica.revoke(&key, now() + 600).await.unwrap();
        let sent = Instant::now();
        loop {
            if matches!(other.try_check(&key, "u"), Some(Ok(l)) if l.revoked) {
                break;
            }
            assert!(sent.elapsed() < Duration::from_secs(1), "not propagated");
            tokio::task::yield_now().await;
        }
        delays.push(sent.elapsed());
    }
    delays.sort();
    println!(
        "propagation after the writer's Ok, 1000 revocations: p50 {:?}, p99 {:?}, max {:?}",
        delays[500], delays[990], delays[999]
    );
}
