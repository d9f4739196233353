//! Same-run ratios: each variant is timed in alternation with its baseline,
//! ten rounds, and the table shows the median of per-round ratios, so that a
//! shared, noisy machine affects both sides alike.
//!
//! Run with `cargo bench --bench ratio`. Needs `redis-server` for the cached
//! Redis rows.

mod common;

use std::{hint::black_box, time::Duration};

use common::{compare, floor, hello, keyed, request, seed_shaped, Claims, Redis, SECRET};
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_session::{blocklist::RedisBlocklist, SessionLayer, SessionManager};

use common::ROUNDS;

fn row(name: &str, base: &str, (b, v, r): (f64, f64, f64)) {
    println!("| {name} | {base} | {v:.2} µs | {b:.2} µs | {r:.2}x |");
}

fn main() {
    let cached = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let cold = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_verified_cache(0)
        .build()
        .unwrap();
    let token = seed_shaped(&cached);
    let forged = format!("{}AAAA", &token[..token.len() - 4]);
    let keyed = keyed();
    let floor = || floor(&keyed, black_box(&token));
    let core = |m: &SessionManager, t: &str| {
        let s = m.decode(black_box(t)).unwrap();
        black_box(m.blocklist().try_check(s.revocation_key(), s.user_id()));
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["atomic-crm"]);
    validation.set_audience(&["atomic-crm-api"]);
    let decoding = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());

    println!(
        "token: {} bytes, {ROUNDS} alternating rounds, median ratio\n",
        token.len()
    );
    println!("| measured | against | measured time | baseline time | ratio |");
    println!("| --- | --- | --- | --- | --- |");
    let n = 20_000;
    row(
        "layer core, cold token",
        "floor",
        compare(n, floor, || core(&cold, &token)),
    );
    row(
        "layer core, cached token",
        "floor",
        compare(n, floor, || core(&cached, &token)),
    );
    row(
        "jsonwebtoken::decode",
        "floor",
        compare(n, floor, || {
            black_box(
                jsonwebtoken::decode::<Claims>(black_box(&token), &decoding, &validation).unwrap(),
            );
        }),
    );
    row(
        "refusal, bad signature (core)",
        "floor",
        compare(n, floor, || {
            black_box(cold.decode(black_box(&forged)).is_err());
        }),
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = Redis::start();
    let redis_manager = rt.block_on(async {
        let list = RedisBlocklist::builder(server.url())
            .build()
            .unwrap()
            .into_cached();
        tokio::time::sleep(Duration::from_millis(200)).await;
        SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_blocklist(list)
            .build()
            .unwrap()
    });
    let replica_manager = rt.block_on(async {
        let list = RedisBlocklist::builder(server.url())
            .build()
            .unwrap()
            .into_replica();
        while !list.is_ready() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_blocklist(list)
            .build()
            .unwrap()
    });
    let bare = ServiceBuilder::new().service_fn(hello);
    let layered = |m: &SessionManager| {
        ServiceBuilder::new()
            .layer(SessionLayer::new(m.clone()))
            .service_fn(hello)
    };
    let (l_cold, l_cached, l_redis) = (layered(&cold), layered(&cached), layered(&redis_manager));
    let l_replica = layered(&replica_manager);
    let bare_call = || {
        rt.block_on(async { black_box(bare.oneshot(request(&token)).await.unwrap()) });
    };
    let svc_call = |svc: &_, t: &str| {
        let svc: &tower_jwt_session::SessionService<_> = svc;
        let svc = svc.clone();
        rt.block_on(async move { black_box(svc.oneshot(request(t)).await.unwrap()) });
    };
    let n = 5_000;
    row(
        "service: layer, cold token",
        "bare service",
        compare(n, bare_call, || svc_call(&l_cold, &token)),
    );
    row(
        "service: layer, cached token",
        "bare service",
        compare(n, bare_call, || svc_call(&l_cached, &token)),
    );
    row(
        "service: refusal, bad signature",
        "bare service",
        compare(n, bare_call, || svc_call(&l_cold, &forged)),
    );
    row(
        "service: cached Redis blocklist",
        "memory blocklist",
        compare(
            n,
            || svc_call(&l_cached, &token),
            || svc_call(&l_redis, &token),
        ),
    );
    row(
        "service: Redis replica",
        "memory blocklist",
        compare(
            n,
            || svc_call(&l_cached, &token),
            || svc_call(&l_replica, &token),
        ),
    );
    drop(server);
}
