//! Redis Sentinel, with real processes on loopback: a primary, two replicas
//! and three Sentinels. Two demo servers follow the primary the Sentinels
//! name; the primary is SIGKILLed right after its replicas' links are cut.
//! An acknowledged revocation is never lost across the promotion, and the
//! servers follow the failover without a restart.

mod common;

use common::*;

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

    let primary = std::cell::RefCell::new(&mut primary);
    failover_scenario(
        "Sentinel (down-after 1 s)",
        &ha,
        &hb,
        || {
            primary.borrow().cli(&["CLIENT", "KILL", "TYPE", "replica"]);
        },
        || primary.borrow_mut().kill(),
    )
    .await;
    drop(replicas);
}
