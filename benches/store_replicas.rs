//! The two shared stores side by side, same run: Redis and PostgreSQL,
//! each on loopback, started here. For each: a replica's start-up over N
//! live revocations (default 1 000 000; `REVOCATIONS=n`), time until it
//! answers and the resident memory it grew by (on Redis, for the first
//! replica, which reads the stream, and for the next one, which starts
//! from the facts snapshot the first wrote); propagation between two
//! replicas (p50, p99 over 1 000 revocations made on one and polled on the
//! other); revocation writes per second, one writer and 16 concurrent.
//!
//! Run with `cargo bench --bench store_replicas` (needs `redis-server`,
//! `redis-cli`, and PostgreSQL's server and `psql`; the PostgreSQL cluster
//! runs with `fsync=off`, as the tests', so its writes are not bounded by
//! this machine's disk).

mod common;

#[path = "../tests/common/postgres.rs"]
mod postgres;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{fill_redis_stream, memory_mib, now_secs as now, Redis};
use postgres::PostgresServer;
use tower_jwt_session::blocklist::{Blocklist, PostgresBlocklist, RedisBlocklist, TokenKey};

/// `n` revocations in PostgreSQL's table, by one `INSERT ... SELECT` (the
/// tables created first by one write through the library).
async fn fill_postgres(pg: &PostgresServer, n: usize) {
    let store = PostgresBlocklist::builder(pg.url()).build().unwrap();
    store
        .revoke(&TokenKey::from_jti("create-the-tables"), now() + 3600)
        .await
        .unwrap();
    pg.sql(&format!(
        "INSERT INTO tower_jwt_session_facts (key, state, until, revision) \
         SELECT 'j:token-' || lpad(i::text, 8, '0'), -1, {}, nextval('tower_jwt_session_revision') \
         FROM generate_series(1, {n}) AS i",
        now() + 3600
    ));
}

/// In a child process of its own (so that memory freed by earlier steps
/// does not hide what this one takes): one replica of `store` at `url`
/// starts; prints seconds until ready, resident MiB grown, peak MiB grown,
/// facts held, facts read from a snapshot.
async fn start_up_child(store: &str, url: &str) {
    let timeout = Duration::from_secs(5);
    let (rss, _) = memory_mib();
    let started = Instant::now();
    let ready = |ready: bool| {
        assert!(started.elapsed() < Duration::from_secs(300), "not ready");
        ready
    };
    let (facts, from_snapshot) = if store == "redis" {
        let r = RedisBlocklist::builder(url)
            .with_timeout(timeout)
            .build()
            .unwrap()
            .into_replica();
        while !ready(r.is_ready()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (r.stored_facts(), r.stats().from_snapshot)
    } else {
        let r = PostgresBlocklist::builder(url)
            .with_timeout(timeout)
            .build()
            .unwrap()
            .into_replica();
        while !ready(r.is_ready()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (r.stored_facts(), r.stats().from_snapshot)
    };
    let secs = started.elapsed().as_secs_f64();
    let (now, peak) = memory_mib();
    println!(
        "{secs} {} {} {facts} {from_snapshot}",
        now - rss,
        peak - rss
    );
}

/// Start-up of one replica in a child process: seconds until ready, MiB
/// grown (held, peak), facts held, facts read from a snapshot.
fn start_up(store: &str, url: &str) -> (f64, f64, f64, u64, u64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("START_UP", store)
        .env("START_UP_URL", url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    (f[0], f[1], f[2], f[3] as u64, f[4] as u64)
}

/// p50, p99 and max of 1 000 revocations on `writer`, polled on `reader`.
async fn propagation(writer: &dyn Blocklist, reader: &dyn Blocklist, tag: &str) -> [Duration; 3] {
    let mut delays = Vec::new();
    for i in 0..1000 {
        let key = TokenKey::from_jti(&format!("{tag}-p-{i}"));
        writer.revoke(&key, now() + 600).await.unwrap();
        let sent = Instant::now();
        loop {
            if matches!(reader.try_check(&key, "u"), Some(Ok(l)) if l.revoked) {
                break;
            }
            assert!(sent.elapsed() < Duration::from_secs(2), "not propagated");
            tokio::task::yield_now().await;
        }
        delays.push(sent.elapsed());
    }
    delays.sort();
    [delays[500], delays[990], delays[999]]
}

/// Revocations per second over `secs`, by `writers` concurrent writers.
async fn writes_per_second(list: Arc<dyn Blocklist>, writers: usize, secs: f64, tag: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let list = list.clone();
            let tag = tag.to_owned();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let key = TokenKey::from_jti(&format!("{tag}-w{w}-{n}"));
                    list.revoke(&key, now() + 600).await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / secs
}

#[tokio::main]
async fn main() {
    if let (Ok(store), Ok(url)) = (std::env::var("START_UP"), std::env::var("START_UP_URL")) {
        return start_up_child(&store, &url).await;
    }
    let n: usize = std::env::var("REVOCATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let redis = Redis::start();
    let pg = PostgresServer::start();
    let filled = Instant::now();
    fill_redis_stream(&redis, n);
    println!(
        "Redis stream filled with {n} revocations in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    let filled = Instant::now();
    fill_postgres(&pg, n).await;
    println!(
        "PostgreSQL table filled with {n} revocations in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    let (r_secs, r_mib, r_peak, r_facts, _) = start_up("redis", &redis.url());
    // Whatever snapshot the child wrote goes: the next replica reads the
    // stream, follows, and writes one; the one after starts from it.
    redis.del("tjs:snapshot");
    redis.del("tjs:snapshot:lock");
    let redis_a = RedisBlocklist::builder(redis.url())
        .build()
        .unwrap()
        .into_replica();
    let written = Instant::now();
    while !redis.exists("tjs:snapshot") {
        assert!(written.elapsed() < Duration::from_secs(120), "no snapshot");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s_secs, s_mib, s_peak, s_facts, s_from) = start_up("redis", &redis.url());
    assert_eq!(s_from, n as u64);
    let (p_secs, p_mib, p_peak, p_facts, _) = start_up("postgres", &pg.url());
    pg.sql("DELETE FROM tower_jwt_session_snapshot");
    let pg_a = PostgresBlocklist::builder(pg.url())
        .build()
        .unwrap()
        .into_replica();
    let written = Instant::now();
    while pg.sql("SELECT count(*) FROM tower_jwt_session_snapshot") != "1" {
        assert!(written.elapsed() < Duration::from_secs(120), "no snapshot");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (q_secs, q_mib, q_peak, q_facts, q_from) = start_up("postgres", &pg.url());
    assert_eq!(q_from, n as u64 + 1);
    let per_fact = |mib: f64, facts: u64| mib * 1024.0 * 1024.0 / facts.max(1) as f64;
    println!("\n| | Redis | PostgreSQL | PostgreSQL / Redis |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| replica start-up over {n} facts, reading the changes | {r_secs:.2} s | {p_secs:.2} s | {:.2} |",
        p_secs / r_secs
    );
    println!(
        "| replica start-up from the facts snapshot | {s_secs:.2} s | {q_secs:.2} s | {:.2} |",
        q_secs / s_secs
    );
    println!(
        "| memory per fact held (RSS growth / facts: {r_facts}, {p_facts}) | {:.0} B | {:.0} B | |",
        per_fact(r_mib, r_facts),
        per_fact(p_mib, p_facts),
    );
    println!(
        "| memory per fact held, from the snapshot ({s_facts}, {q_facts} facts) | {:.0} B | {:.0} B | |",
        per_fact(s_mib, s_facts),
        per_fact(q_mib, q_facts),
    );
    println!(
        "| peak memory per fact during start-up (changes; snapshot) | {:.0} B; {:.0} B | {:.0} B; {:.0} B | |",
        per_fact(r_peak, r_facts),
        per_fact(s_peak, s_facts),
        per_fact(p_peak, p_facts),
        per_fact(q_peak, q_facts),
    );

    let redis_b = RedisBlocklist::builder(redis.url())
        .build()
        .unwrap()
        .into_replica();
    let pg_b = PostgresBlocklist::builder(pg.url())
        .build()
        .unwrap()
        .into_replica();
    while !redis_b.is_ready() || !pg_b.is_ready() || !pg_a.is_ready() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let [r50, r99, rmax] = propagation(&redis_a, &redis_b, "redis").await;
    let [p50, p99, pmax] = propagation(&pg_a, &pg_b, "pg").await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| propagation p50 (1000 revocations) | {:.2} ms | {:.2} ms | {:.1} |",
        ms(r50),
        ms(p50),
        ms(p50) / ms(r50)
    );
    println!(
        "| propagation p99 | {:.2} ms | {:.2} ms | {:.1} |",
        ms(r99),
        ms(p99),
        ms(p99) / ms(r99)
    );
    println!(
        "| propagation max | {:.2} ms | {:.2} ms | |",
        ms(rmax),
        ms(pmax)
    );
    let redis_a: Arc<dyn Blocklist> = Arc::new(redis_a);
    let pg_a: Arc<dyn Blocklist> = Arc::new(pg_a);
    for writers in [1, 16] {
        let r = writes_per_second(redis_a.clone(), writers, 3.0, "redis").await;
        let p = writes_per_second(pg_a.clone(), writers, 3.0, "pg").await;
        println!(
            "| revocation writes per second, {writers} writer(s) | {r:.0} | {p:.0} | {:.2} |",
            p / r
        );
    }
}
