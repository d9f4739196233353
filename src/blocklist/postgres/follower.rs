//! The task that keeps a [`PostgresReplica`](super::PostgresReplica)
//! current: loads every live fact by revision, then reads the changes past
//! the last revision it applied whenever a notification arrives and at
//! least every [`HEARTBEAT`]; reconnects with backoff and reads to the end
//! before the replica answers again.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Weak,
    },
    time::{Duration, Instant},
};

use tokio::sync::mpsc;
use tokio_postgres::Client;

use super::{
    snapshot,
    store::{failed, PostgresBlocklist, SWEEP_BATCH},
};
use crate::blocklist::replica::snapshot::CHECK_EVERY as SNAPSHOT_CHECK_EVERY;
use crate::{
    blocklist::{
        replica::{
            facts::Facts,
            progress::{State, HEARTBEAT},
        },
        BlocklistError, TokenKey,
    },
    time::now_secs,
};

/// How often the database's clock is measured again while following.
const CLOCK_EVERY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to reach the database again.
const MAX_BACKOFF: Duration = Duration::from_millis(50);
/// How often expired facts are dropped, from memory and from the tables.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Sweeping statements per table and run.
const SWEEP_BATCHES: usize = 100;
/// Rows read per query, while loading and following.
const BATCH: i64 = 10_000;

/// Follows the tables while the replica exists: load, then read changes;
/// on any failure, reconnect with backoff and resume from the last
/// revision applied.
pub(super) async fn follow(store: PostgresBlocklist, local: Facts, state: Weak<State>) {
    let mut last = 0i64;
    let writing_snapshot = Arc::new(AtomicBool::new(false));
    let mut backoff = Duration::from_millis(5);
    let mut quiet = false;
    while state.strong_count() > 0 {
        let mut followed = false;
        let result = follow_once(
            &store,
            &local,
            &state,
            &mut last,
            &mut followed,
            &writing_snapshot,
        )
        .await;
        if let Some(s) = state.upgrade() {
            s.following.store(false, Ordering::Release);
            if !followed {
                s.lost.store(true, Ordering::Release);
            }
        }
        if followed {
            quiet = false;
            backoff = Duration::from_millis(5);
            if result.is_err() {
                continue;
            }
        }
        match result {
            Ok(()) => return,
            Err(e) if quiet => tracing::debug!(error = %e, "revocation table still unreachable"),
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL lost: answering from the replica within the allowed staleness, then 503");
                quiet = true;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's worth of following. `Ok(())` once the replica is gone.
async fn follow_once(
    store: &PostgresBlocklist,
    local: &Facts,
    weak: &Weak<State>,
    last: &mut i64,
    followed: &mut bool,
    writing_snapshot: &Arc<AtomicBool>,
) -> Result<(), BlocklistError> {
    let timeout = store.timeout();
    let (notify, mut notified) = mpsc::unbounded_channel();
    let client = store.dedicated(notify).await?;
    let sql = store.statements();
    bounded(timeout, client.batch_execute(&sql.listen)).await?;
    // The database was replaced or lost its data (its revisions start again
    // below ours): read everything again, merging into what we know.
    let newest: i64 = bounded(timeout, client.query_one(&sql.last_revision, &[]))
        .await?
        .try_get(0)
        .map_err(failed)?;
    if newest < *last {
        tracing::warn!(
            "the revocation tables are behind this replica (the database lost data or was replaced): loading them again"
        );
        *last = 0;
    }
    {
        let Some(state) = weak.upgrade() else {
            return Ok(());
        };
        // A replica that never answered from memory starts from the
        // snapshot when there is one (it replaces what memory holds), then
        // the changes past it.
        if !state.loaded.load(Ordering::Acquire) && *last == 0 {
            if let Some((at, facts)) = snapshot::read(&client, store, newest, local).await? {
                tracing::info!(facts, revision = at, "facts snapshot loaded");
                state.from_snapshot.fetch_add(facts, Ordering::Relaxed);
                *last = at;
            }
        }
        state.following.store(true, Ordering::Release);
    }
    *followed = true;
    let mut clock_at = Instant::now() - CLOCK_EVERY;
    let mut sweep_at = Instant::now();
    let mut snapshot_checked: Option<Instant> = None;
    loop {
        let Some(state) = weak.upgrade() else {
            return Ok(());
        };
        let started = Instant::now();
        // Read to the end: batches until one comes back short.
        loop {
            let read = read_changes(&client, sql, *last, timeout).await?;
            let newest = apply(local, &state, &read);
            if let Some(newest) = newest {
                *last = (*last).max(newest);
            }
            if (read.len() as i64) < BATCH {
                break;
            }
        }
        if !state.loaded.swap(true, Ordering::AcqRel) {
            state.loads.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(facts = local.len(), "revocations loaded from PostgreSQL");
        }
        state.lost.store(false, Ordering::Release);
        state.touch_at(started);
        drop(state);
        if snapshot_checked.is_none_or(|t| t.elapsed() >= SNAPSHOT_CHECK_EVERY) {
            snapshot::maybe_write(&client, store, local, *last, writing_snapshot).await;
            snapshot_checked = Some(Instant::now());
        }
        if clock_at.elapsed() >= CLOCK_EVERY {
            clock_at = Instant::now();
            store.measure_clock(&client).await;
        }
        if sweep_at.elapsed() >= SWEEP_EVERY {
            sweep_at = Instant::now();
            local.sweep();
            sweep(&client, store, timeout).await;
        }
        // A notification, or the heartbeat: read again either way (the
        // read is the sign of life).
        match tokio::time::timeout(HEARTBEAT, notified.recv()).await {
            Ok(Some(())) => while notified.try_recv().is_ok() {},
            Ok(None) => {
                return Err(BlocklistError::unavailable(std::io::Error::other(
                    "the PostgreSQL connection ended",
                )))
            }
            Err(_) => {}
        }
    }
}

/// One change: a fact (`kind` 0) or a watermark (1).
struct Change {
    kind: i16,
    key: String,
    state: i64,
    until: i64,
    revision: i64,
}

async fn read_changes(
    client: &Client,
    sql: &super::store::Statements,
    last: i64,
    timeout: Duration,
) -> Result<Vec<Change>, BlocklistError> {
    let rows = bounded(timeout, client.query(&sql.changes, &[&last, &BATCH])).await?;
    rows.iter()
        .map(|row| {
            Ok(Change {
                kind: row.try_get(0).map_err(failed)?,
                key: row.try_get(1).map_err(failed)?,
                state: row.try_get(2).map_err(failed)?,
                until: row.try_get(3).map_err(failed)?,
                revision: row.try_get(4).map_err(failed)?,
            })
        })
        .collect()
}

/// Applies changes (counted in `state`); returns the newest revision among
/// them.
fn apply(local: &Facts, state: &State, changes: &[Change]) -> Option<i64> {
    let mut newest = None;
    for c in changes {
        newest = newest.max(Some(c.revision));
        match c.kind {
            1 => local.learn_watermark(&c.key, c.state, c.until),
            _ => {
                let Some(key) = TokenKey::from_stored(&c.key) else {
                    state.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                if c.state < 0 {
                    local.learn_revoked(&key, c.until);
                } else {
                    local.learn_generation(&key, c.state as u64, c.until);
                }
            }
        }
        state.applied.fetch_add(1, Ordering::Relaxed);
    }
    newest
}

/// Deletes expired rows a minute after their deadline, by the `until`
/// indexes, in batches of [`SWEEP_BATCH`] (at most [`SWEEP_BATCHES`] per
/// table and run: the rest waits for the next run).
async fn sweep(client: &Client, store: &PostgresBlocklist, timeout: Duration) {
    let before = now_secs() - 60;
    for statement in &store.statements().sweeps {
        for _ in 0..SWEEP_BATCHES {
            match bounded(timeout, client.execute(statement.as_str(), &[&before])).await {
                Ok(deleted) if deleted >= SWEEP_BATCH => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "sweeping expired revocations failed");
                    return;
                }
            }
        }
    }
}

/// `work` within `timeout`, its error as the blocklist's.
async fn bounded<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, BlocklistError> {
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result.map_err(failed),
        Err(_) => Err(BlocklistError::Timeout(timeout)),
    }
}
