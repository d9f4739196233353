//! The subscriber behind [`RedisBlocklist::into_cached`](super::RedisBlocklist::into_cached):
//! applies every server's published revocations to a node's cache, pings,
//! and reconnects by itself.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;

use super::{
    connection::map_err,
    store::{sync_clock, Inner, MAX_BACKOFF, PING_EVERY},
};
use crate::blocklist::{BlocklistError, CacheInvalidator, TokenKey};

/// Applies one published event; `false` when the message is not ours.
fn apply(invalidator: &CacheInvalidator, payload: &str) -> bool {
    let mut parts = payload.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("r"), Some(until), Some(key)) => match (until.parse(), TokenKey::from_stored(key)) {
            (Ok(until), Some(key)) => invalidator.revoked(key, until),
            _ => false,
        },
        (Some("g"), Some(key), None) => match TokenKey::from_stored(key) {
            Some(key) => invalidator.rotated(&key),
            None => false,
        },
        (Some("u"), Some(micros), Some(user)) => match micros.parse() {
            Ok(micros) => invalidator.valid_after(user, micros),
            Err(_) => false,
        },
        _ => false,
    }
}

pub(super) async fn subscriber(inner: Arc<Inner>, invalidator: CacheInvalidator) {
    let mut backoff = Duration::from_millis(20);
    // Warn once per outage, not at every retry.
    let mut quiet = false;
    while invalidator.is_alive() {
        let mut subscribed = false;
        let result = listen(&inner, &invalidator, &mut subscribed).await;
        invalidator.disconnected();
        if subscribed {
            quiet = false;
            backoff = Duration::from_millis(20);
        }
        if let Err(e) = result {
            if quiet {
                tracing::debug!(error = %e, "Redis subscription still down");
            } else {
                tracing::warn!(error = %e, "Redis subscription down: the cache answers revocations only until it is back");
                quiet = true;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Subscribes and applies messages until the connection fails.
async fn listen(
    inner: &Inner,
    invalidator: &CacheInvalidator,
    subscribed: &mut bool,
) -> Result<(), BlocklistError> {
    let client = inner.client().await?;
    let mut pubsub = tokio::time::timeout(inner.timeout, client.get_async_pubsub())
        .await
        .map_err(|_| BlocklistError::Timeout(inner.timeout))?
        .map_err(map_err)?;
    tokio::time::timeout(inner.timeout, pubsub.subscribe(&inner.channel))
        .await
        .map_err(|_| BlocklistError::Timeout(inner.timeout))?
        .map_err(map_err)?;
    let (mut sink, mut stream) = pubsub.split();
    if !invalidator.connected() {
        return Ok(());
    }
    *subscribed = true;
    tracing::info!(channel = %inner.channel, "subscribed to revocations");
    sync_clock(inner).await?;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else {
                    return Err(BlocklistError::Protocol("the subscription closed".into()));
                };
                let applied = std::str::from_utf8(msg.get_payload_bytes())
                    .is_ok_and(|payload| apply(invalidator, payload));
                if !applied && !invalidator.is_alive() {
                    return Ok(());
                }
            }
            _ = ping.tick() => {
                if !invalidator.is_alive() {
                    return Ok(());
                }
                match tokio::time::timeout(inner.timeout, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(map_err(e)),
                    Err(_) => return Err(BlocklistError::Timeout(inner.timeout)),
                }
                sync_clock(inner).await?;
            }
        }
    }
}
