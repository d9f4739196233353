//! The subscriber behind [`RedisBlocklist::into_cached`](super::RedisBlocklist::into_cached):
//! applies every server's published revocations to a node's cache, pings,
//! and reconnects by itself.

use std::time::Duration;

use futures_util::StreamExt;

use super::{
    connection::map_err,
    store::{RedisBlocklist, MAX_BACKOFF, PING_EVERY},
};
use crate::blocklist::{BlocklistError, CacheConfig, CacheInvalidator, CachedBlocklist, TokenKey};

impl RedisBlocklist {
    /// Puts a [`CachedBlocklist`] in front of this blocklist and starts the
    /// subscriber that pushes every server's revocations into it.
    ///
    /// The subscriber task ends when the cache is dropped.
    pub fn into_cached(self) -> CachedBlocklist<RedisBlocklist> {
        self.into_cached_with(CacheConfig::default())
    }

    /// Like [`into_cached`](Self::into_cached), with a cache configured by
    /// `config`. The cache is built first and the subscriber started last,
    /// so the push channel always feeds the cache that answers.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tower_jwt_session::blocklist::{CacheConfig, RedisBlocklist};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let blocklist = RedisBlocklist::builder("redis://127.0.0.1:6379/0")
    ///     .build()?
    ///     .into_cached_with(CacheConfig::new().with_negative_ttl(Duration::from_secs(2)));
    /// # let _ = blocklist; Ok(())
    /// # }
    /// ```
    ///
    /// The cache's settings cannot change once it exists (so nothing can
    /// detach it from its subscriber):
    ///
    /// ```compile_fail
    /// # fn f(redis: tower_jwt_session::blocklist::RedisBlocklist) {
    /// let cached = redis.into_cached().with_max_capacity(10); // no such method
    /// # }
    /// ```
    pub fn into_cached_with(self, config: CacheConfig) -> CachedBlocklist<RedisBlocklist> {
        let cached = CachedBlocklist::with_config(self.clone(), config);
        self.subscribe(cached.invalidator());
        cached
    }

    /// Starts a task that applies the events published by every server to
    /// the cache behind `invalidator`, reconnecting as needed.
    pub(crate) fn subscribe(&self, invalidator: CacheInvalidator) {
        tokio::spawn(subscriber(self.clone(), invalidator));
    }
}

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

async fn subscriber(store: RedisBlocklist, invalidator: CacheInvalidator) {
    let mut backoff = Duration::from_millis(20);
    // Warn once per outage, not at every retry.
    let mut quiet = false;
    while invalidator.is_alive() {
        let mut subscribed = false;
        let result = listen(&store, &invalidator, &mut subscribed).await;
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
    store: &RedisBlocklist,
    invalidator: &CacheInvalidator,
    subscribed: &mut bool,
) -> Result<(), BlocklistError> {
    let client = store.client().await?;
    let timeout = store.timeout();
    let mut pubsub = tokio::time::timeout(timeout, client.get_async_pubsub())
        .await
        .map_err(|_| BlocklistError::Timeout(timeout))?
        .map_err(map_err)?;
    tokio::time::timeout(timeout, pubsub.subscribe(store.channel()))
        .await
        .map_err(|_| BlocklistError::Timeout(timeout))?
        .map_err(map_err)?;
    let (mut sink, mut stream) = pubsub.split();
    if !invalidator.connected() {
        return Ok(());
    }
    *subscribed = true;
    tracing::info!(channel = %store.channel(), "subscribed to revocations");
    store.sync_clock_now().await?;
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
                match tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(map_err(e)),
                    Err(_) => return Err(BlocklistError::Timeout(timeout)),
                }
                store.sync_clock_now().await?;
            }
        }
    }
}
