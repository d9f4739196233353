//! [`PostgresReplica`]: every revocation in this process's memory, kept
//! current from PostgreSQL by `LISTEN`/`NOTIFY` and reads by revision (the
//! docs are on the type).

use super::{follower::follow, store::PostgresBlocklist};
use crate::blocklist::replica::Replica;

/// A [`Blocklist`](crate::blocklist::Blocklist) answered from a local, complete replica of a
/// [`PostgresBlocklist`]'s revocations, so that checks never leave the
/// process: the same design and guarantees as
/// [`RedisReplica`](crate::blocklist::RedisReplica), on PostgreSQL.
///
/// Every write takes a revision from one sequence and commits in revision
/// order (one advisory lock), notifying the channel in the same
/// transaction. A replica loads every live row by revision when it starts,
/// then reads the rows past the last revision it applied whenever a
/// notification arrives, and at least every [`HEARTBEAT`](crate::blocklist::HEARTBEAT)
/// (100 ms) whatever arrives: a missed notification costs at most that
/// long, and each read is the sign of life that keeps the replica current.
/// After a lost connection it resumes from its revision; when the database
/// is behind it (restored, replaced) it loads everything again, merging
/// into what it knows (which only ever grows until the facts expire).
///
/// Checks are answered from memory: 0 queries per request. (Until the
/// first load is done, the database answers them, one query each.) Writes
/// go to the database and, once committed, into the local replica at once.
///
/// # Outage policy: bounded staleness
///
/// As for Redis: a replica that has not read the tables for the heartbeat
/// plus the statement timeout counts as having lost the database; it keeps
/// answering from what it knew at its last read until
/// [`with_max_staleness`](Replica::with_max_staleness) has passed (default 0),
/// then refuses every check (`503`, fail closed) until the database is
/// back and it has read to the end. Writes fail during the outage:
/// nothing is stored, nothing promised.
///
/// # PgBouncer
///
/// The replica's connection `LISTEN`s, which needs a session of its own:
/// PgBouncer in session mode works; in transaction mode notifications are
/// not delivered, and the replica then learns of changes by its heartbeat
/// reads alone (within 100 ms, at ten queries a second per server). The
/// writes are single statements and work in either mode.
///
/// Build it with [`PostgresBlocklist::into_replica`] inside a tokio
/// runtime; the task that follows the tables ends when the replica is
/// dropped.
pub type PostgresReplica = Replica<PostgresBlocklist>;

impl PostgresBlocklist {
    /// A [`PostgresReplica`] of this blocklist: every revocation in this
    /// process's memory, loaded from the tables and kept current by
    /// `LISTEN`/`NOTIFY`, so that checks send no query. Starts the follower
    /// task (inside a tokio runtime).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tower_jwt_session::blocklist::PostgresBlocklist;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let blocklist = PostgresBlocklist::builder("postgres://app@127.0.0.1/app")
    ///     .build()?
    ///     .into_replica()
    ///     .with_max_staleness(Duration::from_secs(30));
    /// # let _ = blocklist; Ok(())
    /// # }
    /// ```
    pub fn into_replica(self) -> PostgresReplica {
        let timeout = self.timeout();
        Replica::start(self, timeout, follow)
    }
}
