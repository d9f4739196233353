//! One conformance suite for every blocklist backend (memory, Redis, cached
//! Redis, PostgreSQL and its replica), plus the Redis-specific behaviour: outages, recovery, pushes
//! between two caches on one Redis.

mod common;

use std::{sync::Arc, time::Duration};

use common::*;
use tower_jwt_session::{
    blocklist::MemoryBlocklist,
    blocklist::{Blocklist, CachedBlocklist, Lookup, PostgresBlocklist, RedisBlocklist, TokenKey},
    BlocklistError,
};

/// A backend under test, and whatever must live as long as it.
struct Subject {
    list: Arc<dyn Blocklist>,
    _redis: Option<RedisServer>,
    _postgres: Option<PostgresServer>,
}

fn memory() -> Subject {
    Subject {
        list: Arc::new(MemoryBlocklist::new()),
        _redis: None,
        _postgres: None,
    }
}

fn redis() -> Subject {
    let server = RedisServer::start();
    let list = RedisBlocklist::builder(server.url()).build().unwrap();
    Subject {
        list: Arc::new(list),
        _redis: Some(server),
        _postgres: None,
    }
}

fn postgres() -> Subject {
    let server = PostgresServer::start();
    let list = PostgresBlocklist::builder(server.url()).build().unwrap();
    Subject {
        list: Arc::new(list),
        _redis: None,
        _postgres: Some(server),
    }
}

async fn postgres_replica() -> Subject {
    let server = PostgresServer::start();
    let list = PostgresBlocklist::builder(server.url())
        .build()
        .unwrap()
        .into_replica();
    let started = std::time::Instant::now();
    while !list.is_ready() {
        assert!(started.elapsed() < PATIENCE, "the replica never loaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Subject {
        list: Arc::new(list),
        _redis: None,
        _postgres: Some(server),
    }
}

async fn cached_redis() -> Subject {
    let server = RedisServer::start();
    let list = RedisBlocklist::builder(server.url())
        .build()
        .unwrap()
        .into_cached();
    // Let the subscriber connect so that negatives are cached too.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Subject {
        list: Arc::new(list),
        _redis: Some(server),
        _postgres: None,
    }
}

macro_rules! conformance {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn a_revoked_key_is_reported_and_others_are_not() {
                let s = $make;
                let key = TokenKey::from_jti("a");
                assert_eq!(s.list.check(&key, "u").await.unwrap(), Lookup::default());
                assert!(s.list.revoke(&key, now() + 600).await.unwrap());
                assert!(s.list.check(&key, "u").await.unwrap().revoked);
                assert!(
                    !s.list
                        .check(&TokenKey::from_jti("b"), "u")
                        .await
                        .unwrap()
                        .revoked
                );
            }

            #[tokio::test]
            async fn a_second_revoke_of_one_key_is_not_fresh() {
                let s = $make;
                let key = TokenKey::from_jti("once");
                let (a, b) = tokio::join!(
                    s.list.revoke(&key, now() + 600),
                    s.list.revoke(&key, now() + 600)
                );
                assert_eq!(a.unwrap() as u8 + b.unwrap() as u8, 1);
                assert!(!s.list.revoke(&key, now() + 600).await.unwrap());
            }

            #[tokio::test]
            async fn a_deadline_in_the_past_stores_nothing() {
                let s = $make;
                let key = TokenKey::from_jti("old");
                assert!(s.list.revoke(&key, now() - 1).await.unwrap());
                assert!(!s.list.check(&key, "u").await.unwrap().revoked);
            }

            #[tokio::test]
            async fn revocations_end_at_their_deadline() {
                let s = $make;
                let key = TokenKey::from_jti("short");
                s.list.revoke(&key, now() + 2).await.unwrap();
                assert!(s.list.check(&key, "u").await.unwrap().revoked);
                tokio::time::sleep(Duration::from_millis(3200)).await;
                assert!(!s.list.check(&key, "u").await.unwrap().revoked);
            }

            #[tokio::test]
            async fn watermarks_are_per_user_and_only_rise() {
                let s = $make;
                let key = TokenKey::from_jti("k");
                // Watermarks ahead of the store's clock are kept as given.
                let t = (now() + 100) * 1_000_000;
                s.list
                    .set_valid_after("alice", t + 2_000, now() + 600)
                    .await
                    .unwrap();
                s.list
                    .set_valid_after("alice", t + 1_000, now() + 600)
                    .await
                    .unwrap();
                assert_eq!(
                    s.list
                        .check(&key, "alice")
                        .await
                        .unwrap()
                        .valid_after_micros,
                    Some(t + 2_000)
                );
                assert_eq!(
                    s.list.check(&key, "bob").await.unwrap().valid_after_micros,
                    None
                );
                s.list
                    .set_valid_after("alice", t + 3_000, now() + 600)
                    .await
                    .unwrap();
                assert_eq!(
                    s.list
                        .check(&key, "alice")
                        .await
                        .unwrap()
                        .valid_after_micros,
                    Some(t + 3_000)
                );
                // User ids with spaces and odd characters are kept whole.
                s.list
                    .set_valid_after("a b:c", t + 7, now() + 600)
                    .await
                    .unwrap();
                assert_eq!(
                    s.list
                        .check(&key, "a b:c")
                        .await
                        .unwrap()
                        .valid_after_micros,
                    Some(t + 7)
                );
                // One in the past is raised past the store's clock (so past every
                // refresh it answered before).
                let before = now() * 1_000_000;
                let mark = s
                    .list
                    .set_valid_after("carol", 1, now() + 600)
                    .await
                    .unwrap();
                assert!(mark >= before, "{mark} < {before}");
                assert_eq!(
                    s.list
                        .check(&key, "carol")
                        .await
                        .unwrap()
                        .valid_after_micros,
                    Some(mark)
                );
            }

            #[tokio::test]
            async fn digest_keys_and_jti_keys_do_not_collide() {
                let s = $make;
                let jti = TokenKey::from_jti("d:abc");
                s.list.revoke(&jti, now() + 600).await.unwrap();
                let stored = TokenKey::from_stored("d:abc").unwrap();
                assert!(!s.list.check(&stored, "u").await.unwrap().revoked);
            }
        }
    };
}

conformance!(memory_backend, memory());
conformance!(redis_backend, redis());
conformance!(cached_redis_backend, cached_redis().await);
conformance!(postgres_backend, postgres());
conformance!(postgres_replica_backend, postgres_replica().await);

#[tokio::test]
async fn redis_keys_carry_the_prefix_and_expire_with_the_token() {
    let server = RedisServer::start();
    let list = RedisBlocklist::builder(server.url())
        .with_prefix("app1:")
        .build()
        .unwrap();
    let until = now() + 600;
    list.revoke(&TokenKey::from_jti("x"), until).await.unwrap();
    let mark = list.set_valid_after("u-1", 5, now() + 300).await.unwrap();
    assert_eq!(
        server.cli(&["EXPIRETIME", "app1:r:j:x"]).trim(),
        until.to_string()
    );
    assert!(
        mark > now() * 1_000_000 - 2_000_000,
        "raised past Redis's clock"
    );
    assert_eq!(server.cli(&["GET", "app1:u:u-1"]).trim(), mark.to_string());
    let exp: i64 = server
        .cli(&["EXPIRETIME", "app1:u:u-1"])
        .trim()
        .parse()
        .unwrap();
    assert!(exp >= now() + 299);
    // A second prefix is another namespace.
    let other = RedisBlocklist::builder(server.url())
        .with_prefix("app2:")
        .build()
        .unwrap();
    assert!(
        !other
            .check(&TokenKey::from_jti("x"), "u-1")
            .await
            .unwrap()
            .revoked
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_within_the_timeout_never_a_pass() {
    let mut server = RedisServer::start();
    let list = RedisBlocklist::builder(server.url())
        .with_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    list.revoke(&TokenKey::from_jti("before"), now() + 600)
        .await
        .unwrap();
    server.kill();
    let started = std::time::Instant::now();
    let err = list.check(&TokenKey::from_jti("x"), "u").await.unwrap_err();
    assert!(
        matches!(
            err,
            BlocklistError::Unavailable(_) | BlocklistError::Timeout(_)
        ),
        "{err:?}"
    );
    assert!(list
        .revoke(&TokenKey::from_jti("y"), now() + 600)
        .await
        .is_err());
    assert!(list.set_valid_after("u", 1, now() + 600).await.is_err());
    eprintln!(
        "redis down: three failed calls took {:?}",
        started.elapsed()
    );
    // Back: it recovers by itself, and the earlier revocation held.
    server.restart();
    let started = std::time::Instant::now();
    let lookup = loop {
        match list.check(&TokenKey::from_jti("before"), "u").await {
            Ok(l) => break l,
            Err(_) => {
                assert!(started.elapsed() < Duration::from_secs(10), "no recovery");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    eprintln!("redis back: recovered in {:?}", started.elapsed());
    assert!(lookup.revoked);
}

#[tokio::test]
async fn a_bad_url_or_timeout_is_a_config_error() {
    use tower_jwt_session::ConfigError;
    for url in ["::", "http://127.0.0.1", ""] {
        assert!(
            matches!(
                RedisBlocklist::builder(url).build(),
                Err(ConfigError::InvalidRedisUrl(_))
            ),
            "{url}"
        );
    }
    assert!(matches!(
        RedisBlocklist::builder("redis://127.0.0.1:1")
            .with_timeout(Duration::ZERO)
            .build(),
        Err(ConfigError::InvalidTimeout(_))
    ));
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    assert!(matches!(
        RedisBlocklist::builder("redis://127.0.0.1:1").build(),
        Err(tower_jwt_session::ConfigError::NoRuntime)
    ));
}

/// Two nodes' caches on one Redis: a revocation on one reaches the other's
/// cache by push, within the contract's 100 ms.
#[tokio::test]
async fn revocations_reach_the_other_nodes_cache_by_push() {
    let server = RedisServer::start();
    let a = RedisBlocklist::builder(server.url())
        .build()
        .unwrap()
        .into_cached();
    let b = RedisBlocklist::builder(server.url())
        .build()
        .unwrap()
        .into_cached();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut delays = Vec::new();
    for i in 0..100 {
        let key = TokenKey::from_jti(&format!("t-{i}"));
        // Warm b's cache with "not revoked".
        assert!(!b.check(&key, "u").await.unwrap().revoked);
        assert!(b.try_check(&key, "u").is_some(), "b caches the negative");
        let started = std::time::Instant::now();
        a.revoke(&key, now() + 600).await.unwrap();
        loop {
            if let Some(Ok(l)) = b.try_check(&key, "u") {
                if l.revoked {
                    break;
                }
            }
            assert!(started.elapsed() < PATIENCE, "not pushed within 100 ms");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        delays.push(started.elapsed());
    }
    delays.sort();
    eprintln!(
        "push propagation over 100 revocations: median {:?}, worst {:?}",
        delays[50], delays[99]
    );
    // Watermarks travel the same way.
    let key = TokenKey::from_jti("w");
    b.check(&key, "carol").await.unwrap();
    let mark = a.set_valid_after("carol", 99, now() + 600).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(Ok(l)) = b.try_check(&key, "carol") {
            if l.valid_after_micros == Some(mark) {
                break;
            }
        }
        assert!(started.elapsed() < PATIENCE);
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

#[tokio::test]
async fn a_lost_subscription_stops_cached_negatives_until_it_is_back() {
    let mut server = RedisServer::start();
    let cache: CachedBlocklist<RedisBlocklist> = RedisBlocklist::builder(server.url())
        .build()
        .unwrap()
        .into_cached();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let key = TokenKey::from_jti("n");
    cache.check(&key, "u").await.unwrap();
    assert!(cache.try_check(&key, "u").is_some());
    server.kill();
    let started = std::time::Instant::now();
    while cache.try_check(&key, "u").is_some() {
        assert!(started.elapsed() < PATIENCE, "negative still served");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("subscription loss noticed in {:?}", started.elapsed());
    assert!(cache.check(&key, "u").await.is_err());
    server.restart();
    let started = std::time::Instant::now();
    loop {
        if cache.check(&key, "u").await.is_ok() && cache.try_check(&key, "u").is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not resubscribe"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The subscriber pings every second; a ping that failed would reconnect and
/// drop the cached negatives. They survive several pings.
#[tokio::test]
async fn the_subscription_stays_up_across_pings() {
    let server = RedisServer::start();
    let cache = RedisBlocklist::builder(server.url())
        .build()
        .unwrap()
        .into_cached();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let key = TokenKey::from_jti("steady");
    cache.check(&key, "u").await.unwrap();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert!(
        cache.try_check(&key, "u").is_some(),
        "negatives dropped: the subscription reconnected"
    );
    let (hits, misses) = cache.hits_and_misses();
    assert_eq!((hits, misses), (1, 1));
}

/// A configured cache (`into_cached_with`) keeps its subscriber: negatives
/// are cached, a revocation on another node reaches it by push, and losing
/// Redis stops the negatives. (Configuring after `into_cached` does not
/// compile: `CachedBlocklist` has no setters; see the `compile_fail`
/// doctest on `RedisBlocklist::into_cached_with`.)
#[tokio::test]
async fn a_configured_cache_stays_wired_to_its_subscriber() {
    use tower_jwt_session::blocklist::CacheConfig;
    let mut server = RedisServer::start();
    let config = CacheConfig::new()
        .with_max_capacity(1_000)
        .with_negative_ttl(Duration::from_secs(600));
    let a = RedisBlocklist::builder(server.url())
        .build()
        .unwrap()
        .into_cached_with(config);
    let b = RedisBlocklist::builder(server.url())
        .build()
        .unwrap()
        .into_cached();
    // Wait until a's subscriber is connected: a negative is then cached.
    let key = TokenKey::from_jti("configured");
    let started = std::time::Instant::now();
    loop {
        a.check(&key, "u").await.unwrap();
        if a.try_check(&key, "u").is_some() {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "negative caching is off: the subscriber is not wired to this cache"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A revocation on b is in force on a long before the 600 s ceiling.
    b.revoke(&key, now() + 600).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(Ok(l)) = a.try_check(&key, "u") {
            if l.revoked {
                break;
            }
        }
        assert!(
            started.elapsed() < PATIENCE,
            "revocation not pushed to the configured cache"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    // Losing Redis stops the negatives at once (fail closed), whatever the TTL.
    let other = TokenKey::from_jti("configured-2");
    a.check(&other, "u").await.unwrap();
    assert!(a.try_check(&other, "u").is_some());
    server.kill();
    let started = std::time::Instant::now();
    while a.try_check(&other, "u").is_some() {
        assert!(
            started.elapsed() < PATIENCE,
            "negative still served after Redis was lost"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A bounded cache may evict revocations to make room; an acknowledged
/// logout must still be refused afterwards (asked of Redis again), never
/// answered "not revoked" from an older cached answer.
#[tokio::test]
async fn a_full_cache_never_forgets_an_acknowledged_revocation() {
    use tower_jwt_session::blocklist::CacheConfig;
    let server = RedisServer::start();
    let capacity = 1_000;
    let cached = RedisBlocklist::builder(server.url())
        .build()
        .unwrap()
        .into_cached_with(CacheConfig::new().with_max_capacity(capacity));
    // Wait for the push channel: "not revoked" answers are cached then.
    let victim = TokenKey::from_jti("victim");
    let started = std::time::Instant::now();
    loop {
        cached.check(&victim, "v").await.unwrap();
        if cached.try_check(&victim, "v").is_some() {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "no push channel");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Enough other logouts to fill the cache, then the victim's, then more.
    for i in 0..capacity + 500 {
        let key = TokenKey::from_jti(&format!("other-{i}"));
        cached.check(&key, "o").await.unwrap();
        cached.revoke(&key, now() + 600).await.unwrap();
    }
    cached.revoke(&victim, now() + 600).await.unwrap();
    for i in 0..capacity + 200 {
        let key = TokenKey::from_jti(&format!("after-{i}"));
        cached.check(&key, "o").await.unwrap();
        cached.revoke(&key, now() + 600).await.unwrap();
    }
    assert!(
        cached.check(&victim, "v").await.unwrap().revoked,
        "an acknowledged revocation answered \"not revoked\" from the cache"
    );
    if let Some(answer) = cached.try_check(&victim, "v") {
        assert!(answer.unwrap().revoked);
    }
}
