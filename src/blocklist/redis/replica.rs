//! [`RedisReplica`]: every revocation in this process's memory, kept current
//! from a Redis stream (the docs are on the type).

use std::{
    fmt,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use super::{follower::follow, store::RedisBlocklist};
use crate::blocklist::{
    replica::{facts::Facts, progress::State, ReplicaStats},
    Blocklist, BlocklistError, BlocklistFuture, Lookup, Rotation, TokenKey,
};

/// A [`Blocklist`] answered from a local, complete replica of a
/// [`RedisBlocklist`]'s revocations, kept current from a Redis stream, so
/// that checks never leave the process.
///
/// Every write of [`RedisBlocklist`] appends an entry to the stream
/// `{prefix}stream`, in the same atomic step as the write itself. A replica
/// loads the whole stream when it starts (entries are trimmed by time, past
/// the longest token lifetime, so the stream holds every live fact), then
/// follows it with a blocking `XREAD` from the last entry id it applied. A
/// replica that loses its connection resumes from that id and misses
/// nothing (entries removed meanwhile were expired, or superseded by a later
/// entry of the same session or user); when Redis lost its data (the stream
/// starts again below that id) it loads the whole stream again, merging
/// into what it knows, and logs a warning. What a replica knows only ever grows (revocations and ends
/// stay until their deadline, generations and watermarks only rise), so a
/// reload never forgets a revocation.
///
/// Checks are answered from memory: 0 Redis commands per request, for a
/// token seen before or not. (Until the first load is done, Redis answers
/// them, one round trip each, so that a server is useful from its first
/// request.) Writes go to Redis (the authority, which also
/// makes refreshes single-use across servers) and, once acknowledged, into
/// the local replica at once.
///
/// # Outage policy: bounded staleness
///
/// While the replica follows the stream, every check is current. The
/// follower hears from Redis at least every [`HEARTBEAT`](crate::blocklist::HEARTBEAT) (100 ms: a
/// blocking read returns empty), and its *last contact* is the last time a
/// read brought it to the end of the stream. A replica that heard nothing
/// for the heartbeat plus the command timeout (0.6 s by default) counts as
/// having lost Redis, whatever the cause: a silent partition without FIN
/// included. A connection that breaks is retried at once: if that fails
/// (Redis refuses or is gone), the loss counts from then; if it succeeds (a
/// cut connection), it costs no request.
/// After the loss it keeps answering from what it knew at its last contact
/// until the configured staleness has passed since that contact
/// ([`RedisReplica::with_max_staleness`], default 0), then refuses every
/// check (`503`, fail closed) until Redis is back. Writes (logout, refresh,
/// log-out-everywhere) fail during the outage: nothing is stored, nothing
/// promised. Reconnection is retried every 50 ms at most; once connected,
/// the replica reads the stream to its end before it answers from memory
/// again, so a node back from a partition never answers from state it has
/// not brought up to date.
///
/// Build it with [`RedisBlocklist::into_replica`] inside a tokio runtime;
/// the task that follows the stream ends when the replica is dropped.
/// Until its first load is done, checks go to Redis (one round trip each).
#[derive(Clone)]
pub struct RedisReplica {
    redis: RedisBlocklist,
    local: Facts,
    state: Arc<State>,
}

impl RedisReplica {
    fn start(redis: RedisBlocklist) -> Self {
        let timeout = redis.timeout();
        let replica = Self {
            redis,
            local: Facts::new(),
            state: Arc::new(State::new(timeout)),
        };
        replica.spawn();
        replica
    }

    fn spawn(&self) {
        tokio::spawn(follow(
            self.redis.clone(),
            self.local.clone(),
            Arc::downgrade(&self.state),
        ));
    }

    /// After losing Redis, keep answering from the replica until `staleness`
    /// has passed since the last contact (at most [`HEARTBEAT`](crate::blocklist::HEARTBEAT) old when the
    /// outage begins), then refuse every check (`503`) until Redis is back
    /// and caught up. Default: 0 (fail closed as soon as the loss is
    /// noticed: at once after an error, at most [`HEARTBEAT`](crate::blocklist::HEARTBEAT) plus the
    /// command timeout after the last contact in a silent partition).
    ///
    /// # ⚠️ Warning
    ///
    /// For up to `staleness`, a token revoked on another server during the
    /// outage (which that server could not store either, so it answered
    /// `503`) is not affected, but one revoked just before the loss and not
    /// yet delivered here is still admitted.
    #[must_use]
    pub fn with_max_staleness(self, staleness: Duration) -> Self {
        let ms = u64::try_from(staleness.as_millis()).unwrap_or(u64::MAX);
        self.state.max_staleness_ms.store(ms, Ordering::Relaxed);
        self
    }

    /// Whether the whole stream was loaded once and checks are answered
    /// from memory now.
    pub fn is_ready(&self) -> bool {
        self.state.answerable().is_ok()
    }

    /// Stream entries applied, full loads done, and entries skipped because
    /// they could not be read, since start.
    pub fn stats(&self) -> ReplicaStats {
        self.state.stats()
    }

    /// Facts held in memory (revoked tokens, sessions, watermarks).
    pub fn stored_facts(&self) -> u64 {
        self.local.len()
    }
}

impl RedisBlocklist {
    /// A [`RedisReplica`] of this blocklist: every revocation in this
    /// process's memory, loaded from the stream that every write appends to
    /// and kept current by following it, so that checks send no command to
    /// Redis. Starts the follower task (inside a tokio runtime); until the
    /// first load is done, checks go to Redis (one round trip each).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tower_jwt_session::blocklist::RedisBlocklist;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let blocklist = RedisBlocklist::builder("redis://127.0.0.1:6379/0")
    ///     .with_retention(Duration::from_secs(3600 + 60)) // longest token lifetime + leeway
    ///     .build()?
    ///     .into_replica()
    ///     .with_max_staleness(Duration::from_secs(30)); // keep serving 30 s into an outage
    /// # let _ = blocklist; Ok(())
    /// # }
    /// ```
    pub fn into_replica(self) -> RedisReplica {
        RedisReplica::start(self)
    }
}

impl fmt::Debug for RedisReplica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplica")
            .field("redis", &self.redis)
            .field("ready", &self.is_ready())
            .field(
                "max_staleness",
                &Duration::from_millis(self.state.max_staleness_ms.load(Ordering::Relaxed)),
            )
            .finish()
    }
}

impl Blocklist for RedisReplica {
    fn record_once(&self, key: &str, until: i64) -> BlocklistFuture<bool> {
        self.redis.record_once(key, until)
    }

    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
        self.local
            .after_revoke(self.redis.revoke(key, until), key, until)
    }

    fn rotate(
        &self,
        key: &TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
        issued_at_micros: i64,
    ) -> BlocklistFuture<Rotation> {
        let rotated = self
            .redis
            .rotate(key, from, until, user_id, issued_at_micros);
        self.local.after_rotate(rotated, key, from, until, user_id)
    }

    fn set_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        let stored = self
            .redis
            .set_valid_after(user_id, valid_after_micros, until);
        self.local.after_watermark(stored, user_id, until)
    }

    fn raise_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        let stored = self
            .redis
            .raise_valid_after(user_id, valid_after_micros, until);
        self.local.after_watermark(stored, user_id, until)
    }

    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
        match self.try_check(key, user_id) {
            Some(answer) => Box::pin(std::future::ready(answer)),
            // Still loading: Redis answers (one round trip), so a server is
            // useful from its first request; with Redis down, that fails.
            None => self.redis.check(key, user_id),
        }
    }

    fn try_check(&self, key: &TokenKey, user_id: &str) -> Option<Result<Lookup, BlocklistError>> {
        if !self.state.loaded.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.state
                .answerable()
                .map(|()| self.local.lookup(key, user_id)),
        )
    }

    fn revision(&self) -> Option<u64> {
        // None while checks cannot be answered from memory: they fail (or
        // go to Redis) then, and nothing may skip them.
        self.state.answerable().ok()?;
        Some(self.local.writes())
    }

    fn clock_micros(&self) -> i64 {
        self.redis.clock_micros()
    }
}
