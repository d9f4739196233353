//! The follower's progress as the replica sees it: whether the store was
//! loaded, whether the store is still heard from, and since when it is not.
//! The follower writes it; the replica reads it before answering.

use std::{
    fmt,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use crate::blocklist::BlocklistError;

/// How long a follower waits for news before it reads the store again (a
/// blocking read that returns empty on Redis, a read by revision on
/// PostgreSQL; each answer, empty or not, is a sign of life): the follower
/// hears from the store at least this often, so its last contact is never
/// older than this when an outage begins (10 cheap commands a second per
/// node).
pub const HEARTBEAT: Duration = Duration::from_millis(100);

/// What the replica knows of its follower: loaded, following, lost, last
/// contact, and counts. The follower writes it; the replica reads it to
/// decide whether checks may be answered from memory.
pub(crate) struct State {
    /// The whole stream was loaded once: until then, checks fail.
    pub(crate) loaded: AtomicBool,
    /// The follower's connection is up.
    pub(crate) following: AtomicBool,
    /// The follower lost its connection and could not reconnect at once:
    /// Redis is lost now, not only after the silence bound.
    pub(crate) lost: AtomicBool,
    /// Milliseconds since `epoch` of the last answer from Redis.
    last_contact_ms: AtomicU64,
    epoch: Instant,
    /// The allowed staleness, in milliseconds.
    pub(crate) max_staleness_ms: AtomicU64,
    /// The command timeout, for the silent-failure bound.
    timeout: Duration,
    /// Entries applied, full loads done, entries skipped as malformed.
    pub(crate) applied: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) skipped: AtomicU64,
    /// Facts read from snapshots.
    pub(crate) from_snapshot: AtomicU64,
}

impl State {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            loaded: AtomicBool::new(false),
            following: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            last_contact_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            max_staleness_ms: AtomicU64::new(0),
            timeout,
            applied: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            from_snapshot: AtomicU64::new(0),
        }
    }

    /// Records that the replica was current at `at`.
    pub(crate) fn touch_at(&self, at: Instant) {
        let ms =
            u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX);
        self.last_contact_ms.fetch_max(ms, Ordering::AcqRel);
    }

    fn since_contact(&self) -> Duration {
        let last = Duration::from_millis(self.last_contact_ms.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// The counters, as a replica reports them.
    pub(crate) fn stats(&self) -> super::ReplicaStats {
        super::ReplicaStats {
            applied: self.applied.load(Ordering::Relaxed),
            loads: self.loads.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            from_snapshot: self.from_snapshot.load(Ordering::Relaxed),
        }
    }

    /// Whether checks may be answered from memory now.
    pub(crate) fn answerable(&self) -> Result<(), BlocklistError> {
        if !self.loaded.load(Ordering::Acquire) {
            return Err(BlocklistError::unavailable(ReplicaError(
                "the replica has not loaded the revocations yet",
            )));
        }
        // `last_contact` is the last time the replica knew it was caught up
        // with the stream. A follower hears from Redis at least every
        // HEARTBEAT (an empty blocking read), so while it follows, silence
        // up to the heartbeat plus the command timeout is normal. A loss it
        // has noticed (an error, a refused reconnection) leaves exactly the
        // allowed staleness from that last contact; unnoticed silence (a
        // silent partition) is a loss once it passes the normal bound.
        let max_staleness = Duration::from_millis(self.max_staleness_ms.load(Ordering::Relaxed));
        let allowed = if self.lost.load(Ordering::Acquire) {
            max_staleness
        } else {
            max_staleness.max(HEARTBEAT + self.timeout)
        };
        if self.since_contact() <= allowed {
            Ok(())
        } else {
            Err(BlocklistError::unavailable(ReplicaError(
                "the replica lost its store longer ago than the allowed staleness",
            )))
        }
    }
}

/// Why a replica cannot answer.
#[derive(Debug)]
struct ReplicaError(&'static str);

impl fmt::Display for ReplicaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0)
    }
}

impl std::error::Error for ReplicaError {}
