//! Scenarios several test files share: waiting for a status, the
//! failover of a replicated store under two demo servers.
#![allow(dead_code, unreachable_pub)]

use super::*;

/// Polls `GET /me` with `token` until it answers `want`, and returns how
/// long that took; fails the test after `bound`.
pub async fn status_until(http: &Http, token: &str, want: u16, bound: Duration) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let r = http.get("/me", Some(token)).await;
        if r.status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "/me never answered {want} (last {}: {:?}) within {bound:?}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Tokens of the failover scenario, for checks the caller adds afterwards.
pub struct Failover {
    pub live: String,
    pub gone: String,
    pub after: String,
}

/// The failover scenario that Sentinel and Cluster share, on two demo
/// servers `ha` and `hb` behind one replicated store. A logout on `a` is
/// refused on `b`; then `cut` cuts the primary's replica links, a logout
/// races it, and `kill` SIGKILLs the primary. The racing logout is either
/// refused (503) or survives the promotion; both servers follow it without
/// a restart; every acknowledged revocation stays refused. `what` names the
/// deployment in the reported figures.
pub async fn failover_scenario(
    what: &str,
    ha: &Http,
    hb: &Http,
    cut: impl FnOnce(),
    kill: impl FnOnce(),
) -> Failover {
    const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");
    // Normal operation: acknowledged by a replica first (the default with
    // Sentinel and Cluster), refused on the other server.
    let (live, _) = ha.login(ADMIN.0, ADMIN.1).await;
    let (gone, _) = ha.login(ADMIN.0, ADMIN.1).await;
    status_until(hb, &live, 200, Duration::from_secs(5)).await;
    assert_eq!(ha.post("/logout", Some(&gone), "").await.status, 204);
    status_until(hb, &gone, 401, Duration::from_millis(100)).await;

    // Cut the replicas' links, revoke at once, kill the primary at once.
    let (racing, _) = ha.login(ADMIN.0, ADMIN.1).await;
    cut();
    let logout = ha.post("/logout", Some(&racing), "").await.status.as_u16();
    kill();
    let killed = std::time::Instant::now();
    assert!(
        logout == 204 || logout == 503,
        "the racing logout answered {logout}"
    );
    eprintln!("{what}: logout right after the replicas' links were cut: {logout}");

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
    for h in [ha, hb] {
        status_until(h, &live, 200, Duration::from_secs(10)).await;
    }
    eprintln!(
        "{what}: SIGKILL of the primary to the first acknowledged revocation: {failover:?}, both servers answering 200 after {:?}",
        killed.elapsed()
    );
    // Acknowledged before the failover: still refused, on both.
    for h in [ha, hb] {
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
    status_until(ha, &after, 401, Duration::from_millis(500)).await;
    Failover { live, gone, after }
}
