//! [`RedisReplica`]: every revocation in this process's memory, kept current
//! from a Redis stream (the docs are on the type).

use super::{follower::follow, store::RedisBlocklist};
use crate::blocklist::replica::Replica;

/// A [`Blocklist`](crate::blocklist::Blocklist) answered from a local, complete replica of a
/// [`RedisBlocklist`]'s revocations, kept current from a Redis stream, so
/// that checks never leave the process.
///
/// Every write of [`RedisBlocklist`] appends an entry to the stream
/// `{prefix}stream`, in the same atomic step as the write itself. A replica
/// loads the whole stream when it starts (entries are trimmed by time, past
/// the longest token lifetime, so the stream holds every live fact), or the
/// facts snapshot `{prefix}snapshot` that one replica of the fleet writes
/// every 5 minutes and the stream after it (a fifth of a second for a
/// million facts, against seconds for the whole stream), then
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
pub type RedisReplica = Replica<RedisBlocklist>;

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
        let timeout = self.timeout();
        Replica::start(self, timeout, follow)
    }
}
