//! [`PostgresReplica`]: every revocation in this process's memory, kept
//! current from PostgreSQL by `LISTEN`/`NOTIFY` and reads by revision (the
//! docs are on the type).

use std::{
    fmt,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use super::{follower::follow, store::PostgresBlocklist};
use crate::blocklist::{
    replica::{facts::Facts, progress::State, ReplicaStats},
    Blocklist, BlocklistError, BlocklistFuture, Lookup, Rotation, TokenKey,
};

/// A [`Blocklist`] answered from a local, complete replica of a
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
/// [`with_max_staleness`](Self::with_max_staleness) has passed (default 0),
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
#[derive(Clone)]
pub struct PostgresReplica {
    store: PostgresBlocklist,
    local: Facts,
    state: Arc<State>,
}

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
        let replica = PostgresReplica {
            state: Arc::new(State::new(self.timeout())),
            store: self,
            local: Facts::new(),
        };
        tokio::spawn(follow(
            replica.store.clone(),
            replica.local.clone(),
            Arc::downgrade(&replica.state),
        ));
        replica
    }
}

impl PostgresReplica {
    /// After losing the database, keep answering from the replica until
    /// `staleness` has passed since the last read, then refuse every check
    /// (`503`) until it is back and read. Default: 0.
    ///
    /// # ⚠️ Warning
    ///
    /// For up to `staleness`, a token revoked just before the loss and not
    /// yet read here is still admitted.
    #[must_use]
    pub fn with_max_staleness(self, staleness: Duration) -> Self {
        let ms = u64::try_from(staleness.as_millis()).unwrap_or(u64::MAX);
        self.state.max_staleness_ms.store(ms, Ordering::Relaxed);
        self
    }

    /// Whether the tables were loaded once and checks are answered from
    /// memory now.
    pub fn is_ready(&self) -> bool {
        self.state.answerable().is_ok()
    }

    /// Changes applied, full loads done, and rows skipped because they
    /// could not be read, since start.
    pub fn stats(&self) -> ReplicaStats {
        self.state.stats()
    }

    /// Facts held in memory (revoked tokens, sessions, watermarks).
    pub fn stored_facts(&self) -> u64 {
        self.local.len()
    }
}

impl fmt::Debug for PostgresReplica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresReplica")
            .field("store", &self.store)
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl Blocklist for PostgresReplica {
    fn record_once(&self, key: &str, until: i64) -> BlocklistFuture<bool> {
        self.store.record_once(key, until)
    }

    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
        self.local
            .after_revoke(self.store.revoke(key, until), key, until)
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
            .store
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
            .store
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
            .store
            .raise_valid_after(user_id, valid_after_micros, until);
        self.local.after_watermark(stored, user_id, until)
    }

    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
        match self.try_check(key, user_id) {
            Some(answer) => Box::pin(std::future::ready(answer)),
            None => self.store.check(key, user_id),
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
        self.state.answerable().ok()?;
        Some(self.local.writes())
    }

    fn clock_micros(&self) -> i64 {
        self.store.clock_micros()
    }
}
