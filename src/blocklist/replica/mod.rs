//! What the replicas of a shared store have in common (Redis, PostgreSQL):
//! the facts in memory, the follower's progress, the store's clock, and
//! the counters they report.
//!
//! | file | what it owns |
//! | --- | --- |
//! | `facts.rs` | the map of every live fact, and learning a write's outcome |
//! | `progress.rs` | the follower's progress, which a replica reads before answering |
//! | `clock.rs` | the store's clock as this process knows it |

pub(crate) mod clock;
pub(crate) mod facts;
pub(crate) mod progress;

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
}
