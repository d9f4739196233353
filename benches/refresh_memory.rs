//! What refreshes cost the in-memory blocklist: stored facts and resident
//! memory after N refreshes of one session (default 1 000 000;
//! `REFRESHES=n`), then per live session: M sessions (default 100 000;
//! `SESSIONS=m`), each logged in and refreshed once.
//!
//! Run with `cargo bench --bench refresh_memory`. Prints one line per
//! checkpoint: refreshes done, facts stored, resident set size (Linux).

use std::time::Instant;

use tower_jwt_session::{blocklist::MemoryBlocklist, NewSession, SessionManager};

/// Resident set size in MiB, from /proc/self/statm (Linux), if readable.
fn rss_mib() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / (1024.0 * 1024.0))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u64 = std::env::var("REFRESHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let blocklist = std::sync::Arc::new(MemoryBlocklist::new());
    let manager = SessionManager::builder("a secret of at least thirty-two bytes")
        .with_issuer("https://auth.example.com")
        .with_audience("example-api")
        .with_blocklist(blocklist.clone())
        // Refresh verifies the presented token; the verified-token cache
        // would only add its own entries to the figure.
        .with_verified_cache(0)
        .build()
        .expect("configuration");
    let mut token = manager
        .issue(NewSession::new("u-1", "ada@example.com"))
        .expect("issue")
        .into_token();
    let rss_before = rss_mib();
    println!(
        "refreshes,stored_facts,rss_mib  (before: rss {:.1} MiB)",
        rss_before.unwrap_or(f64::NAN)
    );
    let started = Instant::now();
    let step = (n / 10).max(1);
    for i in 1..=n {
        token = manager.refresh(&token).await.expect("refresh").into_token();
        if i % step == 0 || i == n {
            println!(
                "{i},{},{:.1}",
                blocklist.stored_facts(),
                rss_mib().unwrap_or(f64::NAN)
            );
        }
    }
    println!(
        "{n} refreshes in {:.1} s; rss grew by {:.1} MiB",
        started.elapsed().as_secs_f64(),
        rss_mib().unwrap_or(f64::NAN) - rss_before.unwrap_or(f64::NAN)
    );

    let m: u64 = std::env::var("SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let facts_before = blocklist.stored_facts();
    let rss_before = rss_mib();
    for i in 0..m {
        let token = manager
            .issue(NewSession::new(format!("u-{i}"), "x@example.com"))
            .expect("issue")
            .into_token();
        manager.refresh(&token).await.expect("refresh");
    }
    let facts = blocklist.stored_facts() - facts_before;
    let grown = rss_mib().unwrap_or(f64::NAN) - rss_before.unwrap_or(f64::NAN);
    println!(
        "{m} live sessions refreshed once: {facts} facts, rss grew by {grown:.1} MiB ({:.0} bytes per session)",
        grown * 1024.0 * 1024.0 / m as f64
    );
}
