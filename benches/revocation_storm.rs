//! A revocation storm, and a steady stream of refreshes, seen from another
//! server: two servers (each a `SessionManager` over its own `RedisReplica`
//! of one Redis on loopback, started here) in one process.
//!
//! 1. Quiet: a thread of its own sends requests with 1 000 cached tokens
//!    through server B's `SessionLayer` for 3 s: requests per second.
//! 2. Storm: 100 000 logouts (`STORM=n`) made on server A by 64 concurrent
//!    tasks; the time until every one is in force on B (each token checked
//!    on B's replica), and B's requests per second meanwhile.
//! 3. Quiet again (brackets the machine's drift).
//! 4. 1 000 refreshes per second on A for 5 s (each a rotation written to
//!    Redis and replayed on B), and B's requests per second meanwhile.
//!
//! A control thread sends the same requests, at the same time, through a
//! layer whose manager uses an in-memory blocklist that the storm does not
//! touch: its ratio is what the machine's load alone costs (two cores here,
//! shared with Redis and server A), so B's ratio over the control's is what
//! the storm costs the replica's hot path.
//!
//! Run with `cargo bench --bench revocation_storm` (needs `redis-server`).
//! The ratios are the figures: B's rate during each phase over the quiet
//! one, same run.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::{hello, request, Redis, SECRET};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_jwt_session::{
    blocklist::{Blocklist, RedisBlocklist, RedisReplica},
    NewSession, SessionData, SessionLayer, SessionManager,
};

fn server(redis: &Redis) -> (SessionManager, RedisReplica) {
    let replica = RedisBlocklist::builder(redis.url())
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .into_replica();
    let manager = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_blocklist(replica.clone())
        .build()
        .unwrap();
    (manager, replica)
}

fn new_session(i: usize) -> NewSession {
    NewSession::new(format!("u-{i}"), format!("u{i}@example.com")).with_role("user")
}

/// Requests through B's layer on a thread of its own, round-robin over
/// `tokens`, until `stop`; `done` counts them.
fn hit_loop(
    manager: SessionManager,
    tokens: Vec<String>,
    done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut svc = ServiceBuilder::new()
            .layer(SessionLayer::new(manager))
            .service_fn(hello);
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..256 {
                let req = request(&tokens[i % tokens.len()]);
                i += 1;
                let res = svc.ready().await.unwrap().call(req).await.unwrap();
                assert_eq!(res.status(), 200);
            }
            done.fetch_add(256, Ordering::Relaxed);
        }
    });
}

/// B's and the control's requests per second while `phase` runs.
async fn rate_during<F: std::future::Future>(
    done: &[Arc<AtomicU64>; 2],
    phase: F,
) -> ([f64; 2], F::Output) {
    let before = [0, 1].map(|i| done[i].load(Ordering::Relaxed));
    let started = Instant::now();
    let out = phase.await;
    let secs = started.elapsed().as_secs_f64();
    let rates = [0, 1].map(|i| (done[i].load(Ordering::Relaxed) - before[i]) as f64 / secs);
    (rates, out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let storm: usize = std::env::var("STORM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let redis = Redis::start();
    let (a, replica_a) = server(&redis);
    let (b, replica_b) = server(&redis);
    while !replica_a.is_ready() || !replica_b.is_ready() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let hot: Vec<String> = (0..1000)
        .map(|i| b.issue(new_session(i)).unwrap().into_token())
        .collect();
    let victims: Vec<SessionData> = (0..storm)
        .map(|i| a.issue(new_session(10_000 + i)).unwrap().session().clone())
        .collect();
    let refreshed: Vec<SessionData> = (0..5_000)
        .map(|i| a.issue(new_session(500_000 + i)).unwrap().session().clone())
        .collect();

    let control = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let done = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let stop = Arc::new(AtomicBool::new(false));
    let hits: Vec<_> = [b.clone(), control]
        .into_iter()
        .zip(done.clone())
        .map(|(manager, done)| {
            let (hot, stop) = (hot.clone(), stop.clone());
            std::thread::spawn(move || hit_loop(manager, hot, done, stop))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (quiet, ()) = rate_during(&done, tokio::time::sleep(Duration::from_secs(3))).await;

    let victims = Arc::new(victims);
    let (during_storm, (sent, in_force)) = rate_during(&done, async {
        let started = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let writers: Vec<_> = (0..64)
            .map(|_| {
                let (a, victims, next) = (a.clone(), victims.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let Some(session) = victims.get(i) else { break };
                        a.revoke(session).await.unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let sent = started.elapsed();
        // Every one in force on B: checked on its replica, the last ones
        // first (they arrive last).
        let mut pending: Vec<&SessionData> = victims.iter().rev().collect();
        while !pending.is_empty() {
            assert!(started.elapsed() < Duration::from_secs(120), "not in force");
            pending.retain(|s| {
                !matches!(replica_b.try_check(s.revocation_key(), s.user_id()),
                    Some(Ok(l)) if l.revoked)
            });
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        (sent, started.elapsed())
    })
    .await;
    let (quiet_after, ()) = rate_during(&done, tokio::time::sleep(Duration::from_secs(3))).await;

    let refreshed = Arc::new(refreshed);
    let (during_refreshes, rotated) = rate_during(&done, async {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        let mut i = 0;
        while Instant::now() < deadline && i < refreshed.len() {
            tick.tick().await;
            let (a, refreshed) = (a.clone(), refreshed.clone());
            tasks.push(tokio::spawn(async move {
                a.refresh_session(&refreshed[i]).await.unwrap();
            }));
            i += 1;
        }
        for t in tasks {
            t.await.unwrap();
        }
        i
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for h in hits {
        h.join().unwrap();
    }

    let quiet_mean = [0, 1].map(|i| (quiet[i] + quiet_after[i]) / 2.0);
    println!(
        "| | requests/s on B | / quiet | control (untouched blocklist) / quiet | B / control |"
    );
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| quiet (before, after) | {:.0}, {:.0} | 1.00 | 1.00 (control {:.0}, {:.0}) | |",
        quiet[0], quiet_after[0], quiet[1], quiet_after[1]
    );
    for (name, rates) in [
        (format!("during {storm} logouts on A"), during_storm),
        (
            format!("during {rotated} refreshes on A at 1,000/s"),
            during_refreshes,
        ),
    ] {
        let (b, c) = (rates[0] / quiet_mean[0], rates[1] / quiet_mean[1]);
        println!(
            "| {name} | {:.0} | {b:.2} | {c:.2} | {:.2} |",
            rates[0],
            b / c
        );
    }
    println!(
        "\n{storm} logouts sent by 64 tasks in {:.2} s ({:.0}/s); every one in force on B after {:.2} s",
        sent.as_secs_f64(),
        storm as f64 / sent.as_secs_f64(),
        in_force.as_secs_f64()
    );
    println!("B's replica: {:?}", replica_b.stats());
}
