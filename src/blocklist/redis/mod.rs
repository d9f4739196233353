//! The shared blocklist in Redis: the store ([`RedisBlocklist`]), its Lua
//! scripts, its connections (single server, Sentinel, Cluster) and clock,
//! the push subscriber for node caches, and the replica
//! ([`RedisReplica`]) that keeps every revocation in this process's memory
//! by following the store's stream.
//!
//! Imports go one way: the replica and its follower use the store; the
//! store knows nothing of them.
//!
//! | file | what it owns |
//! | --- | --- |
//! | `store.rs` | `RedisBlocklist` and its builder: layout, writes, checks, topology |
//! | `scripts.rs`, `scripts/*.lua` | the write scripts, one atomic step each |
//! | `connection.rs` | one connection type for every topology; error mapping |
//! | `clock.rs` | Redis's clock as this process knows it |
//! | `subscriber.rs` | published revocations into a node's cache |
//! | `stream.rs` | stream entries and the replies that carry them |
//! | `facts.rs` | the replica's map of facts |
//! | `follower.rs` | the task that loads and follows the stream |
//! | `progress.rs` | the follower's progress, which the replica reads before answering |
//! | `replica.rs` | `RedisReplica`: checks answered from memory |

mod clock;
mod connection;
mod facts;
mod follower;
mod progress;
mod replica;
mod scripts;
mod store;
mod stream;
mod subscriber;

pub use progress::HEARTBEAT;
pub use replica::{RedisReplica, ReplicaStats};
pub use store::{RedisBlocklist, RedisBlocklistBuilder};
