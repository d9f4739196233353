//! Criterion benchmarks: the verification floor, jsonwebtoken's `decode`, the
//! layer's core per request, whole-service calls (bare vs layered), the
//! refusal path, and blocklist checks (memory, cached, Redis).
//!
//! Run with `cargo bench --bench layer`. The Redis benchmarks start their
//! own `redis-server` on a free loopback port (it must be installed). Compare
//! figures within one run only: the ratios matter, not the absolute times.

mod common;

use std::{hint::black_box, time::Duration};

use common::{floor as floor_once, hello, keyed, request, seed_shaped, Claims, Redis, SECRET};
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_session::{
    blocklist::{Blocklist, RedisBlocklist, TokenKey},
    SessionLayer, SessionManager,
};

fn floor(c: &mut Criterion) {
    let manager = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let token = seed_shaped(&manager);
    let keyed = keyed();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["atomic-crm"]);
    validation.set_audience(&["atomic-crm-api"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let decoding = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());

    let mut g = c.benchmark_group("core");
    g.bench_function("floor: hmac (prebuilt key) + base64 + serde", |b| {
        b.iter(|| floor_once(&keyed, black_box(&token)))
    });
    g.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| {
            black_box(
                jsonwebtoken::decode::<Claims>(black_box(&token), &decoding, &validation).unwrap(),
            )
        })
    });
    // Cold: the verified-token cache is off, so every call verifies, as for
    // a token never seen before.
    let cold = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_verified_cache(0)
        .build()
        .unwrap();
    for (name, m) in [
        ("layer core, cold token: verify + memory blocklist", &cold),
        (
            "layer core, cached token: cache + memory blocklist",
            &manager,
        ),
    ] {
        let blocklist = m.blocklist().clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                let s = m.decode(black_box(&token)).unwrap();
                black_box(blocklist.try_check(s.revocation_key(), s.user_id()));
            })
        });
    }
    let forged = format!("{}AAAA", &token[..token.len() - 4]);
    g.bench_function("refusal: bad signature", |b| {
        b.iter(|| black_box(manager.decode(black_box(&forged)).is_err()))
    });
    g.finish();
}

fn service(c: &mut Criterion) {
    // A worker thread keeps the Redis subscriber alive between measurements.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let redis = Redis::start();
    let memory = SessionManager::builder(SECRET)
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
    let (cached, cached_list) = rt.block_on(async {
        let list = RedisBlocklist::builder(redis.url())
            .build()
            .unwrap()
            .into_cached();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let manager = SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_blocklist(list.clone())
            .build()
            .unwrap();
        (manager, list)
    });
    let token = seed_shaped(&memory);

    let mut g = c.benchmark_group("service");
    let bare = ServiceBuilder::new().service_fn(hello);
    g.bench_function("bare service_fn", |b| {
        b.to_async(&rt).iter(|| {
            let req = request(&token);
            let svc = bare;
            async move { black_box(svc.oneshot(req).await.unwrap()) }
        })
    });
    for (name, manager) in [
        ("layer, cold token, memory blocklist", &cold),
        ("layer, cached token, memory blocklist", &memory),
        ("layer, cached token, cached redis (hit)", &cached),
    ] {
        let svc = ServiceBuilder::new()
            .layer(SessionLayer::new(manager.clone()))
            .service_fn(hello);
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let req = request(&token);
                let svc = svc.clone();
                async move { black_box(svc.oneshot(req).await.unwrap()) }
            })
        });
    }
    let forged = format!("{}AAAA", &token[..token.len() - 4]);
    let svc = ServiceBuilder::new()
        .layer(SessionLayer::new(memory.clone()))
        .service_fn(hello);
    g.bench_function("layer, refusal (bad signature)", |b| {
        b.to_async(&rt).iter(|| {
            let req = request(&forged);
            let svc = svc.clone();
            async move { black_box(svc.oneshot(req).await.unwrap()) }
        })
    });
    g.finish();
    let (hits, misses) = cached_list.hits_and_misses();
    eprintln!("cached redis during the service benchmarks: {hits} hits, {misses} misses");

    let mut g = c.benchmark_group("blocklist check");
    let session = memory.decode(&token).unwrap();
    let key = session.revocation_key().clone();
    let mem = memory.blocklist().clone();
    g.bench_function("memory (sync)", |b| {
        b.iter(|| black_box(mem.try_check(&key, "u-admin")))
    });
    let cache = cached.blocklist().clone();
    rt.block_on(cache.check(&key, "u-admin")).unwrap();
    assert!(cache.try_check(&key, "u-admin").is_some(), "cache warm");
    g.bench_function("cached redis, hit (sync)", |b| {
        b.iter(|| black_box(cache.try_check(&key, "u-admin")))
    });
    let plain = rt.block_on(async { RedisBlocklist::builder(redis.url()).build().unwrap() });
    g.bench_function("redis, uncached (one round trip)", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                plain
                    .check(&TokenKey::from_jti("x"), "u-admin")
                    .await
                    .unwrap(),
            )
        })
    });
    g.finish();
    drop(redis);
}

/// Asymmetric algorithms: decode with the cache off (every call verifies the
/// signature) and on, next to HS256 in the same run.
fn asymmetric(c: &mut Criterion) {
    use tower_jwt_session::{Algorithm, KeyPair, NewSession};
    let mut g = c.benchmark_group("asymmetric decode");
    let hmac = |cache| {
        SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_verified_cache(cache)
            .build()
            .unwrap()
    };
    let pair = |alg, file: &str, cache| {
        let pem =
            std::fs::read(format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        SessionManager::builder(KeyPair::from_pkcs8_pem(alg, &pem).unwrap())
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_verified_cache(cache)
            .build()
            .unwrap()
    };
    let managers = [
        ("HS256", hmac(0), hmac(1000)),
        (
            "RS256 2048",
            pair(Algorithm::RS256, "rsa2048.pem", 0),
            pair(Algorithm::RS256, "rsa2048.pem", 1000),
        ),
        (
            "PS256 2048",
            pair(Algorithm::PS256, "rsa2048.pem", 0),
            pair(Algorithm::PS256, "rsa2048.pem", 1000),
        ),
        (
            "ES256",
            pair(Algorithm::ES256, "p256.pem", 0),
            pair(Algorithm::ES256, "p256.pem", 1000),
        ),
        (
            "ES384",
            pair(Algorithm::ES384, "p384.pem", 0),
            pair(Algorithm::ES384, "p384.pem", 1000),
        ),
        (
            "EdDSA",
            pair(Algorithm::EdDSA, "ed25519.pem", 0),
            pair(Algorithm::EdDSA, "ed25519.pem", 1000),
        ),
    ];
    for (name, cold, cached) in &managers {
        let new = NewSession::new("u-1", "ada@example.com").with_permissions(["admin"]);
        let token = cold.issue(new).unwrap().into_token();
        g.bench_function(format!("{name}, cold"), |b| {
            b.iter(|| black_box(cold.decode(black_box(&token)).unwrap()))
        });
        g.bench_function(format!("{name}, cached"), |b| {
            b.iter(|| black_box(cached.decode(black_box(&token)).unwrap()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = floor, service, asymmetric
}
criterion_main!(benches);
