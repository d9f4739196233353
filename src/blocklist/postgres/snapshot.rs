//! The facts snapshot in PostgreSQL (the one row of `{p}_snapshot`): read
//! by a replica that starts, before the changes past its revision; written
//! by one replica at a time, at most every [`SNAPSHOT_EVERY`](snapshot::SNAPSHOT_EVERY).
//!
//! The tables stay the source of truth: a snapshot that is unreadable, or
//! ahead of the database's revisions (a database restored from an older
//! backup), is ignored and every row read.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use tokio_postgres::Client;

use super::store::{failed, PostgresBlocklist};
use crate::blocklist::{
    replica::{facts::Facts, snapshot},
    BlocklistError,
};

/// Loads the snapshot into `local` (replacing what it holds) when there is
/// a usable one at or below `newest` (the database's last revision);
/// returns the revision it covers and the facts it held. Read by ranges
/// ([`snapshot::read_ranges`]).
pub(super) async fn read(
    client: &Client,
    store: &PostgresBlocklist,
    newest: i64,
    local: &Facts,
) -> Result<Option<(i64, u64)>, BlocklistError> {
    let sql = store.statements();
    let head_len = snapshot::HEADER_LEN as i32;
    let Some(row) = transfer(client.query_opt(&sql.snapshot_head, &[&head_len])).await? else {
        return Ok(None);
    };
    let revision: i64 = row.try_get(0).map_err(failed)?;
    let first: Vec<u8> = row.try_get(1).map_err(failed)?;
    if revision > newest {
        tracing::warn!(
            snapshot = revision,
            newest,
            "the facts snapshot is ahead of the database's revisions: reading every row"
        );
        return Ok(None);
    }
    let header = match snapshot::header(&first) {
        Ok(header) => header,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the facts snapshot: reading every row");
            return Ok(None);
        }
    };
    let Some(len) = snapshot::readable_len(header.len) else {
        tracing::warn!(
            "ignoring a facts snapshot larger than this version writes: reading every row"
        );
        return Ok(None);
    };
    let blob = snapshot::read_ranges(len, |from, count| async move {
        // `substring` counts from 1; both fit `int4` under MAX_BYTES.
        let (from, count) = (from as i32 + 1, count as i32);
        let row = transfer(client.query_opt(&sql.snapshot_chunk, &[&from, &count])).await?;
        match row {
            Some(row) => row.try_get::<_, Vec<u8>>(0).map_err(failed),
            None => Ok(Vec::new()),
        }
    })
    .await?;
    Ok(snapshot::load_off_thread(blob, local)
        .await?
        .map(|facts| (revision, facts)))
}

/// `work` within [`TRANSFER_TIMEOUT`](snapshot::TRANSFER_TIMEOUT), its error as the blocklist's.
async fn transfer<T>(
    work: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, BlocklistError> {
    tokio::time::timeout(snapshot::TRANSFER_TIMEOUT, work)
        .await
        .map_err(|_| BlocklistError::Timeout(snapshot::TRANSFER_TIMEOUT))?
        .map_err(failed)
}

/// Writes a new snapshot of `local` (which holds every change up to
/// `last`) when the stored one is missing, ahead of `last` (left by an
/// earlier life of the database), or behind it and older than
/// [`SNAPSHOT_EVERY`](snapshot::SNAPSHOT_EVERY). The look goes on the follower's connection `client`
/// (one small query, once a minute); the writing in a task of its own, on
/// a connection of its own, so that following never waits for it.
/// `writing` keeps one write at a time per replica.
pub(super) async fn maybe_write(
    client: &Client,
    store: &PostgresBlocklist,
    local: &Facts,
    last: i64,
    writing: &Arc<AtomicBool>,
) {
    if last == 0 || writing.load(Ordering::Acquire) {
        return;
    }
    let timeout = store.timeout();
    let every = snapshot::SNAPSHOT_EVERY.as_secs_f64();
    let due = tokio::time::timeout(
        timeout,
        client.query_one(&store.statements().snapshot_due, &[&every, &last]),
    )
    .await;
    match due.map(|r| r.and_then(|row| row.try_get::<_, bool>(0))) {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "could not look at the facts snapshot this time");
            return;
        }
        Err(_) => return,
    }
    writing.store(true, Ordering::Release);
    let (store, local, writing) = (store.clone(), local.clone(), writing.clone());
    tokio::spawn(async move {
        match write(&store, &local, last).await {
            Ok(Some(bytes)) => tracing::info!(bytes, revision = last, "facts snapshot written"),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "facts snapshot not written this time"),
        }
        writing.store(false, Ordering::Release);
    });
}

async fn write(
    store: &PostgresBlocklist,
    local: &Facts,
    last: i64,
) -> Result<Option<usize>, BlocklistError> {
    let position = (u64::try_from(last).unwrap_or(0), 0);
    let Some(blob) = snapshot::encode_off_thread(local, position).await? else {
        return Ok(None);
    };
    let bytes = blob.len();
    let client = store.own_connection().await?;
    let every = snapshot::SNAPSHOT_EVERY.as_secs_f64();
    let written =
        transfer(client.execute(&store.statements().snapshot_write, &[&last, &blob, &every]))
            .await?;
    Ok((written > 0).then_some(bytes))
}
