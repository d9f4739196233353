//! Redis Cluster, with real processes on loopback: three primaries with one
//! or two replicas each, created with `redis-cli --cluster create`. Two demo
//! servers share it through `REDIS_CLUSTER_URLS`: the several-servers
//! behaviour holds, and a failover of the primary that holds the
//! revocations loses nothing acknowledged and is followed without restart.

mod common;

use std::time::{Duration, Instant};

use common::*;
use http::StatusCode;

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");
/// Every key of the demo server's blocklist shares this hash tag.
const STREAM: &str = "{tjs}:stream";

fn token_of(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.json()["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn several_servers_share_revocations_through_a_cluster() {
    let cluster = RedisCluster::start(3, 1);
    let urls = cluster.urls();
    let env = [("REDIS_CLUSTER_URLS", urls.as_str())];
    let (a, b) = (DemoServer::start(&env), DemoServer::start(&env));
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));
    let bound = PATIENCE;

    // A token from one works on the other.
    let (token, _) = ha.login(ADMIN.0, ADMIN.1).await;
    status_until(&hb, &token, 200, PATIENCE).await;

    // Logout on a, refused on b within 100 ms (after b has seen it valid).
    let mut delays = Vec::new();
    for _ in 0..20 {
        let (token, _) = ha.login(ADMIN.0, ADMIN.1).await;
        assert_eq!(hb.get("/me", Some(&token)).await.status, 200);
        assert_eq!(ha.post("/logout", Some(&token), "").await.status, 204);
        delays.push(status_until(&hb, &token, 401, bound).await);
    }
    delays.sort();
    eprintln!(
        "cluster: logout on a, refused on b: median {:?}, worst {:?}",
        delays[10], delays[19]
    );

    // Refresh on a rotates: old refused on b, new accepted; a replay of the
    // old token on b ends the session everywhere.
    let (old, _) = ha.login(ADMIN.0, ADMIN.1).await;
    let new = token_of(&ha.post("/refresh", Some(&old), "").await);
    status_until(&hb, &old, 401, bound).await;
    assert_eq!(hb.get("/me", Some(&new)).await.status, 200);
    assert_eq!(hb.post("/refresh", Some(&old), "").await.status, 401);
    status_until(&ha, &new, 401, bound).await;

    // Logout-all on b ends every earlier token on a; a later login works.
    let (t1, _) = ha.login(ADMIN.0, ADMIN.1).await;
    let (t2, _) = hb.login(ADMIN.0, ADMIN.1).await;
    assert_eq!(hb.post("/logout-all", Some(&t2), "").await.status, 204);
    status_until(&ha, &t1, 401, bound).await;
    let (fresh, _) = ha.login(ADMIN.0, ADMIN.1).await;
    assert_eq!(hb.get("/me", Some(&fresh)).await.status, 200);

    // Every fact went into one slot, with the stream: a third server
    // started now loads them all.
    assert!(
        cluster.nodes[cluster.primary_for(STREAM)]
            .cli(&["XLEN", STREAM])
            .trim()
            .parse::<u64>()
            .unwrap()
            > 20
    );
    let c = DemoServer::start(&env);
    let hc = Http::new(&c.addr);
    status_until(&hc, &fresh, 200, PATIENCE).await;
    for t in [&token, &old, &new, &t1] {
        assert_eq!(hc.get("/me", Some(t)).await.status, 401);
    }
}

#[tokio::test]
async fn a_cluster_failover_loses_no_acknowledged_revocation() {
    // Two replicas each: after the failover, the promoted primary still
    // has one to acknowledge writes (REDIS_MIN_REPLICAS defaults to 1).
    let mut cluster = RedisCluster::start(3, 2);
    let urls = cluster.urls();
    let env = [("REDIS_CLUSTER_URLS", urls.as_str())];
    let (a, b) = (DemoServer::start(&env), DemoServer::start(&env));
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));

    let owner = cluster.primary_for(STREAM);
    let primary = std::cell::RefCell::new(&mut cluster.nodes[owner]);
    let Failover { live, gone, after } = failover_scenario(
        "cluster (cluster-node-timeout 1 s)",
        &ha,
        &hb,
        || {
            primary.borrow().cli(&["CLIENT", "KILL", "TYPE", "replica"]);
        },
        || primary.borrow_mut().kill(),
    )
    .await;
    // A server started after the failover loads the revocations from the
    // promoted replica.
    cluster.wait_ok();
    let c = DemoServer::start(&env);
    let hc = Http::new(&c.addr);
    status_until(&hc, &live, 200, Duration::from_secs(10)).await;
    assert_eq!(hc.get("/me", Some(&gone)).await.status, 401);
    assert_eq!(hc.get("/me", Some(&after)).await.status, 401);
}

#[tokio::test]
async fn cached_blocklists_on_a_cluster_share_revocations_and_watermarks() {
    use tower_jwt_session::{
        blocklist::TokenKey,
        blocklist::{Blocklist, RedisBlocklist},
    };
    let cluster = RedisCluster::start(3, 1);
    let urls: Vec<String> = cluster.urls().split(',').map(str::to_owned).collect();
    let a = RedisBlocklist::cluster_builder(urls.clone())
        .build()
        .unwrap()
        .into_cached();
    let b = RedisBlocklist::cluster_builder(urls)
        .build()
        .unwrap()
        .into_cached();
    let until = now() + 600;
    let key = TokenKey::from_jti("cluster-cached-1");
    // Bounded wait for both to reach the cluster.
    let started = Instant::now();
    while b.check(&key, "u-1").await.is_err() || a.check(&key, "u-1").await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "no cluster");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!b.check(&key, "u-1").await.unwrap().revoked);
    // Acknowledged by the slot's primary and its replica (the default).
    assert!(a.revoke(&key, until).await.unwrap());
    assert!(
        !a.revoke(&key, until).await.unwrap(),
        "a second revoke stores nothing"
    );
    let started = Instant::now();
    while !b.check(&key, "u-1").await.unwrap().revoked {
        assert!(started.elapsed() < PATIENCE, "not pushed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // A per-user watermark written through one is read through the other.
    let mark = a
        .set_valid_after("u-1", a.clock_micros(), until)
        .await
        .unwrap();
    let started = Instant::now();
    while b
        .check(&TokenKey::from_jti("other"), "u-1")
        .await
        .unwrap()
        .valid_after_micros
        != Some(mark)
    {
        assert!(started.elapsed() < PATIENCE, "watermark not seen");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
