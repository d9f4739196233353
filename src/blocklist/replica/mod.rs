//! What the replicas of a shared store have in common (Redis, PostgreSQL):
//! [`Replica`] itself (checks from memory, writes learned at once), the
//! facts in memory, the follower's progress, the store's clock, and the
//! counters they report. Each store brings its follower.
//!
//! | file | what it owns |
//! | --- | --- |
//! | `facts.rs` | the map of every live fact, and learning a write's outcome |
//! | `progress.rs` | the follower's progress, which a replica reads before answering |
//! | `clock.rs` | the store's clock as this process knows it |
//! | `snapshot.rs` | the facts as one blob, for a replica that starts |

pub(crate) mod clock;
pub(crate) mod facts;
pub(crate) mod progress;
pub(crate) mod snapshot;

use std::{
    fmt,
    sync::{atomic::Ordering, Arc, Weak},
    time::Duration,
};

use crate::blocklist::{Blocklist, BlocklistError, BlocklistFuture, Lookup, Rotation, TokenKey};
use facts::Facts;
use progress::State;
pub use progress::HEARTBEAT;

/// Counters of a replica ([`RedisReplica`](crate::blocklist::RedisReplica),
/// [`PostgresReplica`](crate::blocklist::PostgresReplica)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaStats {
    /// Changes applied (stream entries, rows).
    pub applied: u64,
    /// Full loads (one at start, one per lost position).
    pub loads: u64,
    /// Changes skipped because they could not be read.
    pub skipped: u64,
    /// Facts read from a snapshot at start-up instead of one change each
    /// (Redis: `{prefix}snapshot`).
    pub from_snapshot: u64,
}

/// A [`Blocklist`] answered from a local, complete replica of a shared
/// store `S` (every revocation in this process's memory, kept current by a
/// follower task), so that checks never leave the process:
/// [`RedisReplica`](crate::blocklist::RedisReplica) and
/// [`PostgresReplica`](crate::blocklist::PostgresReplica) (their pages say
/// how each store is followed; the outage policy is the same).
///
/// Writes go to the store and, once it acknowledged them, into the local
/// replica at once. Until the first load is done, checks go to the store
/// (one round trip each). The follower ends when the last clone of the
/// replica is dropped.
#[derive(Clone)]
pub struct Replica<S> {
    store: S,
    local: Facts,
    state: Arc<State>,
}

impl<S: Blocklist + Clone> Replica<S> {
    /// A replica of `store`, followed by the task `follow` makes (spawned
    /// here, inside a tokio runtime); `timeout` is the store's command
    /// timeout, for the silence bound.
    pub(crate) fn start<F, Fut>(store: S, timeout: Duration, follow: F) -> Self
    where
        F: FnOnce(S, Facts, Weak<State>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let replica = Self {
            state: Arc::new(State::new(timeout)),
            local: Facts::new(),
            store,
        };
        tokio::spawn(follow(
            replica.store.clone(),
            replica.local.clone(),
            Arc::downgrade(&replica.state),
        ));
        replica
    }

    /// After losing the store, keep answering from the replica until
    /// `staleness` has passed since the last contact (at most
    /// [`HEARTBEAT`] old when the outage begins), then refuse every check
    /// (`503`) until the store is back and caught up. Default: 0 (fail
    /// closed as soon as the loss is noticed: at once after an error, at
    /// most [`HEARTBEAT`] plus the command timeout after the last contact
    /// in a silent partition).
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

    /// Whether the store was loaded once and checks are answered from
    /// memory now.
    pub fn is_ready(&self) -> bool {
        self.state.answerable().is_ok()
    }

    /// Changes applied, full loads done, and changes skipped because they
    /// could not be read, since start.
    pub fn stats(&self) -> ReplicaStats {
        self.state.stats()
    }

    /// Facts held in memory (revoked tokens, sessions, watermarks).
    pub fn stored_facts(&self) -> u64 {
        self.local.len()
    }
}

impl<S: fmt::Debug> fmt::Debug for Replica<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica")
            .field("store", &self.store)
            .field("ready", &self.state.answerable().is_ok())
            .field(
                "max_staleness",
                &Duration::from_millis(self.state.max_staleness_ms.load(Ordering::Relaxed)),
            )
            .finish()
    }
}

impl<S: Blocklist + Clone> Blocklist for Replica<S> {
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
            // Still loading: the store answers (one round trip), so a
            // server is useful from its first request; with the store
            // down, that fails.
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
        // None while checks cannot be answered from memory: they fail (or
        // go to the store) then, and nothing may skip them.
        self.state.answerable().ok()?;
        Some(self.local.writes())
    }

    fn revision_slots(&self, key: &TokenKey, user_id: &str) -> Option<u64> {
        Some(self.local.slots(key, user_id))
    }

    fn revision_at(&self, slots: u64) -> Option<u64> {
        self.state.answerable().ok()?;
        Some(self.local.stamps_at(slots))
    }

    fn clock_micros(&self) -> i64 {
        self.store.clock_micros()
    }
}
