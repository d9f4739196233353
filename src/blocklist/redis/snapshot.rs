//! The facts snapshot in Redis (`{prefix}snapshot`): read by a replica that
//! starts, before the stream entries after it; written by one replica of
//! the fleet at a time, at most every [`SNAPSHOT_EVERY`](snapshot::SNAPSHOT_EVERY).
//!
//! A replica that starts with a million live facts reads one ~20 MB value
//! (in ranges) and the stream's tail, instead of a million stream entries (a second
//! against several; BENCHMARKS.md). The stream stays the source of truth: a
//! snapshot that is missing, unreadable, or ahead of the stream (Redis lost
//! the stream but not the snapshot) is ignored and the whole stream read.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    sync::Arc,
    time::Duration,
};

use super::{
    connection::{bounded, RedisConnection},
    store::RedisBlocklist,
    stream::{EntryId, StreamInfo},
};
use crate::blocklist::{
    replica::{facts::Facts, snapshot},
    BlocklistError,
};

/// How long the replica that takes the writer's lock keeps it: others do
/// not write meanwhile.
const LOCK_FOR: Duration = Duration::from_secs(60);

/// Loads the snapshot into `local` (replacing what it holds) when there is
/// a usable one; returns the stream id it covers, from which the stream is
/// read next, and the facts it held. Read by ranges
/// ([`snapshot::read_ranges`]).
pub(super) async fn read(
    conn: &mut RedisConnection,
    redis: &RedisBlocklist,
    stream: Option<&StreamInfo>,
    local: &Facts,
) -> Result<Option<(EntryId, u64)>, BlocklistError> {
    let key = redis.snapshot_key();
    let range = |from: usize, to: usize| {
        let mut cmd = redis::cmd("GETRANGE");
        cmd.arg(&key).arg(from).arg(to);
        cmd
    };
    let first: Vec<u8> = bounded(
        range(0, snapshot::HEADER_LEN - 1).query_async(conn),
        snapshot::TRANSFER_TIMEOUT,
    )
    .await?;
    if first.is_empty() {
        return Ok(None);
    }
    let header = match snapshot::header(&first) {
        Ok(header) => header,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the facts snapshot: reading the whole stream");
            return Ok(None);
        }
    };
    let at = EntryId(header.position.0, header.position.1);
    if stream.is_none_or(|s| s.last_generated < at) {
        tracing::warn!(snapshot = %at, "the facts snapshot is ahead of the stream (the stream was lost): reading the whole stream");
        return Ok(None);
    }
    let Some(len) = snapshot::readable_len(header.len) else {
        tracing::warn!(
            "ignoring a facts snapshot larger than this version writes: reading the whole stream"
        );
        return Ok(None);
    };
    let blob = snapshot::read_ranges(len, |from, count| {
        let (cmd, mut conn) = (range(from, from + count - 1), conn.clone());
        async move { bounded(cmd.query_async(&mut conn), snapshot::TRANSFER_TIMEOUT).await }
    })
    .await?;
    Ok(snapshot::load_off_thread(blob, local)
        .await?
        .map(|facts| (at, facts)))
}

/// Writes a new snapshot of `local` (which holds the stream up to `last`)
/// when the stored one is missing, ahead of `last`, or older than
/// [`SNAPSHOT_EVERY`](snapshot::SNAPSHOT_EVERY), and no other replica took the writer's lock. The
/// look and the lock go on the follower's connection `conn` (two small
/// commands, once a minute); the writing in a task of its own, on a
/// connection of its own, so that following never waits for it. `writing`
/// keeps one write at a time per replica.
pub(super) async fn maybe_write(
    conn: &mut RedisConnection,
    redis: &RedisBlocklist,
    local: &Facts,
    last: EntryId,
    writing: &Arc<AtomicBool>,
) {
    if last == EntryId::ZERO || writing.load(Ordering::Acquire) {
        return;
    }
    match due_and_locked(conn, redis, last).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::debug!(error = %e, "could not look at the facts snapshot this time");
            return;
        }
    }
    writing.store(true, Ordering::Release);
    let (redis, local, writing) = (redis.clone(), local.clone(), writing.clone());
    tokio::spawn(async move {
        match write(&redis, &local, last).await {
            Ok(Some(bytes)) => tracing::info!(bytes, at = %last, "facts snapshot written"),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "facts snapshot not written this time"),
        }
        writing.store(false, Ordering::Release);
    });
}

/// Whether a snapshot is due (missing, unreadable, ahead of this replica:
/// left by an earlier life of the stream, or behind it and older than the
/// period) and this replica took the writer's lock.
async fn due_and_locked(
    conn: &mut RedisConnection,
    redis: &RedisBlocklist,
    last: EntryId,
) -> Result<bool, BlocklistError> {
    let timeout = redis.timeout();
    let key = redis.snapshot_key();
    let header: Vec<u8> = bounded(
        redis::cmd("GETRANGE")
            .arg(&key)
            .arg(0)
            .arg(snapshot::HEADER_LEN - 1)
            .query_async(conn),
        timeout,
    )
    .await?;
    let every_ms = u64::try_from(snapshot::SNAPSHOT_EVERY.as_millis()).unwrap_or(u64::MAX);
    if let Ok(snapshot::Header {
        position: (ms, seq),
        ..
    }) = snapshot::header(&header)
    {
        if EntryId(ms, seq) <= last && last.0.saturating_sub(ms) < every_ms {
            return Ok(false);
        }
    }
    let token = format!("{}-{}", std::process::id(), last);
    let locked: Option<String> = bounded(
        redis::cmd("SET")
            .arg(format!("{key}:lock"))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(LOCK_FOR.as_millis()).unwrap_or(60_000))
            .query_async(conn),
        timeout,
    )
    .await?;
    Ok(locked.is_some())
}

async fn write(
    redis: &RedisBlocklist,
    local: &Facts,
    last: EntryId,
) -> Result<Option<usize>, BlocklistError> {
    let Some(blob) = snapshot::encode_off_thread(local, (last.0, last.1)).await? else {
        return Ok(None);
    };
    let bytes = blob.len();
    let mut conn = redis.dedicated_connection().await?;
    let () = bounded(
        redis::cmd("SET")
            .arg(redis.snapshot_key())
            .arg(blob)
            .query_async(&mut conn),
        snapshot::TRANSFER_TIMEOUT,
    )
    .await?;
    Ok(Some(bytes))
}
