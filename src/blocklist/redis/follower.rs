//! The task that keeps a [`RedisReplica`](super::RedisReplica) current:
//! loads the stream, follows it with blocking reads, reconnects with
//! backoff, and reads to the end before the replica answers again.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Weak,
    },
    time::{Duration, Instant},
};

use super::{
    connection::{bounded, RedisConnection},
    snapshot,
    store::RedisBlocklist,
    stream::{stream_entries, stream_info, xread_stream, EntryId, Event},
};
use crate::blocklist::replica::snapshot::CHECK_EVERY as SNAPSHOT_CHECK_EVERY;
use crate::blocklist::{
    replica::{
        facts::Facts,
        progress::{State, HEARTBEAT},
    },
    BlocklistError,
};

/// How often Redis's clock is measured again while following.
const CLOCK_EVERY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to reach Redis again: a server
/// answers again at most this long after Redis is reachable (plus the
/// catch-up).
const MAX_BACKOFF: Duration = Duration::from_millis(50);
/// How often expired facts are dropped from memory.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Entries read per command, while loading and following.
const BATCH: usize = 10_000;

/// Follows the stream while the replica exists: load, then read from the
/// last id; on any failure, reconnect with backoff and resume.
pub(super) async fn follow(redis: RedisBlocklist, local: Facts, state: Weak<State>) {
    let mut last = EntryId::ZERO;
    let writing_snapshot = Arc::new(AtomicBool::new(false));
    let mut backoff = Duration::from_millis(5);
    let mut warned_policy = false;
    let mut quiet = false;
    while state.strong_count() > 0 {
        let mut followed = false;
        let result = follow_once(
            &redis,
            &local,
            &state,
            &mut last,
            &mut warned_policy,
            &mut followed,
            &writing_snapshot,
        )
        .await;
        if let Some(s) = state.upgrade() {
            s.following.store(false, Ordering::Release);
            // A connection that was up is retried at once (a cut connection
            // costs nothing); one that cannot be made means Redis is lost.
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
            Err(e) if quiet => tracing::debug!(error = %e, "revocation stream still unreachable"),
            Err(e) => {
                tracing::warn!(error = %e, "revocation stream lost: answering from the replica within the allowed staleness, then 503");
                quiet = true;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's worth of following. `Ok(())` once the replica is gone.
///
/// The replica counts as current again only once it has read the stream to
/// its end on this connection: a node that comes back from a partition
/// keeps failing closed (or within its staleness) until every revocation
/// made meanwhile is applied, never answering from state it has not brought
/// up to date.
async fn follow_once(
    redis: &RedisBlocklist,
    local: &Facts,
    weak: &Weak<State>,
    last: &mut EntryId,
    warned_policy: &mut bool,
    followed: &mut bool,
    writing_snapshot: &Arc<AtomicBool>,
) -> Result<(), BlocklistError> {
    let timeout = redis.timeout();
    let mut conn = redis.dedicated_connection().await?;
    let stream = redis.stream_key();
    if !*warned_policy {
        *warned_policy = true;
        warn_if_evicting(&mut conn, timeout).await;
    }
    let Some(state) = weak.upgrade() else {
        return Ok(());
    };
    // Where are we against the stream? Read from the start when the stream
    // was reset (Redis lost its data: ids start again below ours); else
    // from our position. Entries missing between our position and the
    // stream's first entry were trimmed (their facts expired) or compacted
    // (superseded by a later entry of the same session), so reading on from
    // our position misses nothing that counts.
    let info = stream_info(&mut conn, &stream, timeout).await?;
    let loaded = state.loaded.load(Ordering::Acquire);
    let reset = match &info {
        Some(info) => info.last_generated < *last,
        None => *last != EntryId::ZERO,
    };
    if reset {
        tracing::warn!(last = %last, "the revocation stream starts again below the replica's position (Redis lost its data): loading the whole stream again");
        *last = EntryId::ZERO;
    }
    // Read to the end as of now, before answering from memory again: a
    // replica that never answered from memory starts from the snapshot
    // when there is one (it replaces what memory holds), then the stream
    // after it.
    let contact = Instant::now();
    if !loaded && *last == EntryId::ZERO {
        if let Some((at, facts)) = snapshot::read(&mut conn, redis, info.as_ref(), local).await? {
            tracing::info!(facts, at = %at, "facts snapshot loaded");
            state.from_snapshot.fetch_add(facts, Ordering::Relaxed);
            *last = at;
        } else if let Some(info) = &info {
            local.reserve(info.length);
        }
    }
    *last = load(&mut conn, &stream, *last, timeout, local, &state).await?;
    if !loaded || reset {
        state.loads.fetch_add(1, Ordering::Relaxed);
    }
    // Writes go through the shared connection: once Redis is back, make
    // sure it is up again too, so a server that answers checks again also
    // stores logouts (its first command after an outage may meet the
    // failure of a reconnection attempt made while Redis was down).
    // The first retry is immediate: a connection that failed its
    // authentication was replaced by the failure itself.
    let mut tries = 0;
    while let Err(e) = redis.ping_shared().await {
        tries += 1;
        if tries >= 5 {
            return Err(e);
        }
        if tries > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    state.touch_at(contact);
    state.loaded.store(true, Ordering::Release);
    state.following.store(true, Ordering::Release);
    state.lost.store(false, Ordering::Release);
    *followed = true;
    drop(state);
    tracing::info!(stream = %stream, "following the revocation stream");
    let block_ms = u64::try_from(HEARTBEAT.as_millis()).unwrap_or(100);
    let mut clock_synced = Instant::now();
    let mut swept = Instant::now();
    let mut snapshot_checked: Option<Instant> = None;
    loop {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&stream)
            .arg(last.to_string());
        let asked = Instant::now();
        let reply = bounded(cmd.query_async(&mut conn), HEARTBEAT + timeout).await?;
        let Some(state) = weak.upgrade() else {
            return Ok(());
        };
        let entries = stream_entries(xread_stream(reply));
        // A full batch may leave more behind: current only once a read
        // comes back short, and then as of when it was sent (Redis read
        // the stream after that).
        let caught_up = entries.len() < BATCH;
        if let Some(next) = apply_entries(entries, local, &state) {
            *last = next;
        }
        if caught_up {
            state.touch_at(asked);
        }
        drop(state);
        if caught_up && snapshot_checked.is_none_or(|t| t.elapsed() >= SNAPSHOT_CHECK_EVERY) {
            snapshot::maybe_write(&mut conn, redis, local, *last, writing_snapshot).await;
            snapshot_checked = Some(Instant::now());
        }
        if clock_synced.elapsed() >= CLOCK_EVERY {
            sync_clock(redis).await;
            clock_synced = Instant::now();
        }
        if swept.elapsed() >= SWEEP_EVERY {
            local.sweep();
            swept = Instant::now();
        }
    }
}

/// Measures Redis's clock; a failure only delays the next measurement (the
/// shared connection may be reconnecting while this one works).
async fn sync_clock(redis: &RedisBlocklist) {
    if let Err(e) = redis.sync_clock_now().await {
        tracing::debug!(error = %e, "could not read Redis's clock this time");
    }
}

/// Reads the whole stream, oldest first, into `local`; returns the last id
/// (or the one it was already at when the stream is empty).
async fn load(
    conn: &mut RedisConnection,
    stream: &str,
    after: EntryId,
    timeout: Duration,
    local: &Facts,
    state: &State,
) -> Result<EntryId, BlocklistError> {
    let started = Instant::now();
    let mut from = if after == EntryId::ZERO {
        "-".to_owned()
    } else {
        format!("({after}")
    };
    let mut last = after;
    let mut count = 0usize;
    loop {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(stream).arg(&from).arg("+").arg("COUNT").arg(BATCH);
        let reply = bounded(cmd.query_async(conn), timeout * 4).await?;
        let entries = stream_entries(Some(reply));
        let n = entries.len();
        count += n;
        match apply_entries(entries, local, state) {
            Some(id) => {
                last = id;
                // Exclusive start: the next entry after `id`.
                from = format!("({id}");
            }
            None => break,
        }
        if n < BATCH {
            break;
        }
    }
    tracing::info!(
        entries = count,
        took_ms = started.elapsed().as_millis() as u64,
        from_start = after == EntryId::ZERO,
        "revocation stream read up to its end"
    );
    Ok(last)
}

/// Applies entries in order; returns the id of the last one (applied or
/// skipped), if any.
fn apply_entries(
    entries: Vec<(Option<EntryId>, Option<String>)>,
    local: &Facts,
    state: &State,
) -> Option<EntryId> {
    let mut last = None;
    for (id, text) in entries {
        match text.as_deref().and_then(Event::parse) {
            Some(event) => {
                event.apply(local);
                state.applied.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                state.skipped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id = ?id, "skipping a revocation stream entry that cannot be read");
            }
        }
        if id.is_some() {
            last = id;
        }
    }
    last
}

/// A Redis that may evict keys with a TTL can drop revocations silently:
/// say so, loudly, once. Servers that refuse `CONFIG` are left alone.
async fn warn_if_evicting(conn: &mut RedisConnection, timeout: Duration) {
    let reply: Result<Vec<String>, _> = bounded(
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(conn),
        timeout,
    )
    .await;
    if let Ok(reply) = reply {
        if let Some(policy) = reply.get(1) {
            if policy != "noeviction" {
                tracing::error!(
                    policy = %policy,
                    "Redis maxmemory-policy is not noeviction: under memory pressure Redis may evict revocations and let revoked tokens back in; set `maxmemory-policy noeviction`"
                );
            }
        }
    }
}
