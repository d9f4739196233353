//! A process whose clock runs 110 s fast (the `testing` feature's skew,
//! set before anything reads the clock), against a real `redis-server`:
//! a plain `RedisBlocklist` measures Redis's clock by itself, tokens it
//! mints do not outlive a log-out-everywhere written in Redis's clock, and
//! its stream trimming goes by Redis's clock, not its own.
//!
//! One test in this binary: the skew is read once per process.

mod common;

use std::time::Duration;

use common::*;
use tower_jwt_session::{
    blocklist::{Blocklist, RedisBlocklist, TokenKey},
    NewSession, SessionManager, VerifyError,
};

const SKEW_MS: i64 = 110_000;

fn redis_time_micros(redis: &RedisServer) -> i64 {
    let out = redis.cli(&["TIME"]);
    let mut parts = out.split_whitespace().map(|p| p.parse::<i64>().unwrap());
    parts.next().unwrap() * 1_000_000 + parts.next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_process_keeps_to_redis_clock() {
    std::env::set_var("TOWER_JWT_SESSION_TEST_CLOCK_SKEW_MS", SKEW_MS.to_string());
    assert!(
        tower_jwt_session::blocklist::now_micros() / 1_000_000 > now() + 100,
        "the skew did not take"
    );
    let redis = RedisServer::start();
    let retention = Duration::from_secs(60);
    let list = RedisBlocklist::builder(redis.url())
        .with_retention(retention)
        .build()
        .unwrap();

    // 1. Redis's clock is measured without a replica or a subscriber.
    let started = std::time::Instant::now();
    loop {
        let off = (list.clock_micros() - redis_time_micros(&redis)).abs();
        if off < 50_000 {
            eprintln!(
                "clock within {off} µs of Redis's after {:?}",
                started.elapsed()
            );
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the blocklist's clock is {off} µs off Redis's"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // 2. A token minted here, then a log-out-everywhere in Redis's clock
    // (as another server writes it): the token is refused.
    let manager = SessionManager::builder(SECRET)
        .with_issuer("https://auth.example.com")
        .with_audience("api")
        .with_blocklist(list.clone())
        .build()
        .unwrap();
    let issued = manager
        .issue(NewSession::new("u-1", "ada@example.com"))
        .unwrap();
    assert!(manager.verify(issued.token()).await.is_ok());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mark = redis_time_micros(&redis).to_string();
    redis.cli(&["SET", "tjs:u:u-1", &mark, "EX", "600"]);
    assert!(matches!(
        manager.verify(issued.token()).await,
        Err(VerifyError::RevokedForUser)
    ));

    // 3. Revocations written by this fast process stay in the stream for
    // the retention by Redis's clock: a replica started later loads them.
    let keys: Vec<TokenKey> = (0..3)
        .map(|i| TokenKey::from_jti(&format!("kept-{i}")))
        .collect();
    for key in &keys {
        list.revoke(key, now() + 600).await.unwrap();
    }
    let xlen: u64 = redis.cli(&["XLEN", "tjs:stream"]).trim().parse().unwrap();
    assert!(
        xlen >= 3,
        "the stream was trimmed by a fast clock: {xlen} entries"
    );
    let late = RedisBlocklist::builder(redis.url())
        .build()
        .unwrap()
        .into_replica();
    let started = std::time::Instant::now();
    while !late.is_ready() {
        assert!(started.elapsed() < PATIENCE);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for key in &keys {
        assert!(
            late.try_check(key, "u").unwrap().unwrap().revoked,
            "{key:?} missing from a replica started later"
        );
    }
}
