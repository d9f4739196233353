//! Redis Sentinel, with real processes on loopback: a primary, two replicas
//! and three Sentinels. Two demo servers follow the primary the Sentinels
//! name; the primary is SIGKILLed right after its replicas' links are cut.
//! An acknowledged revocation is never lost across the promotion, and the
//! servers follow the failover without a restart.

mod common;

use std::time::{Duration, Instant};

use common::*;

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");
const MASTER: &str = "sessions";

#[tokio::test]
async fn a_failover_loses_no_acknowledged_revocation_and_is_followed_without_restart() {
    let mut primary = RedisServer::start();
    let replicas = [
        RedisServer::start_replica_of(&primary),
        RedisServer::start_replica_of(&primary),
    ];
    let sentinels: Vec<_> = (0..3)
        .map(|_| Sentinel::start(MASTER, primary.port))
        .collect();
    let urls = sentinels
        .iter()
        .map(Sentinel::url)
        .collect::<Vec<_>>()
        .join(",");
    let env = [
        ("REDIS_SENTINEL_URLS", urls.as_str()),
        ("REDIS_SENTINEL_MASTER", MASTER),
    ];
    let (a, b) = (DemoServer::start(&env), DemoServer::start(&env));
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));

    // Normal operation: a logout on a is refused on b, acknowledged by a
    // replica first (REDIS_MIN_REPLICAS defaults to 1 with Sentinel).
    let (live, _) = ha.login(ADMIN.0, ADMIN.1).await;
    let (gone, _) = ha.login(ADMIN.0, ADMIN.1).await;
    status_until(&hb, &live, 200, Duration::from_secs(5)).await;
    assert_eq!(ha.post("/logout", Some(&gone), "").await.status, 204);
    status_until(&hb, &gone, 401, Duration::from_millis(100)).await;

    // Cut the replicas' links, revoke at once, kill the primary at once.
    let (racing, _) = ha.login(ADMIN.0, ADMIN.1).await;
    primary.cli(&["CLIENT", "KILL", "TYPE", "replica"]);
    let logout = ha.post("/logout", Some(&racing), "").await.status.as_u16();
    primary.kill();
    let killed = Instant::now();
    assert!(
        logout == 204 || logout == 503,
        "the racing logout answered {logout}"
    );
    eprintln!("logout right after the replicas' links were cut: {logout}");

    // Both servers follow the promotion by themselves: the first
    // acknowledged write after the kill marks the new primary in service.
    let (after, _) = hb.login(ADMIN.0, ADMIN.1).await;
    loop {
        // A revoked token is never admitted meanwhile.
        assert_ne!(ha.get("/me", Some(&gone)).await.status, 200);
        match hb.post("/logout", Some(&after), "").await.status.as_u16() {
            204 => break,
            503 => {
                assert!(killed.elapsed() < Duration::from_secs(30), "no failover");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("logout during the failover answered {other}"),
        }
    }
    let failover = killed.elapsed();
    for h in [&ha, &hb] {
        status_until(h, &live, 200, Duration::from_secs(10)).await;
    }
    eprintln!(
        "SIGKILL of the primary to the first acknowledged revocation: {failover:?}, both servers answering 200 after {:?} (Sentinel down-after 1 s)",
        killed.elapsed()
    );
    // Acknowledged before the failover: still refused, on both.
    for h in [&ha, &hb] {
        assert_eq!(h.get("/me", Some(&gone)).await.status, 401);
        if logout == 204 {
            assert_eq!(
                h.get("/me", Some(&racing)).await.status,
                401,
                "acknowledged and lost"
            );
        }
    }
    // The revocation made on the new primary reaches the other server.
    status_until(&ha, &after, 401, Duration::from_millis(500)).await;
    drop(replicas);
}
