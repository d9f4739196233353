//! The shared blocklist in Redis: the store ([`RedisBlocklist`]), its Lua
//! scripts, its connections (single server, Sentinel, Cluster) and clock,
//! the push subscriber for node caches, and the replica
//! ([`RedisReplica`]) that keeps every revocation in this process's memory
//! by following the store's stream (its facts, progress and clock are the
//! [`replica`](super::replica) module's, shared with PostgreSQL).
//!
//! Imports go one way: the replica and its follower use the store; the
//! store knows nothing of them.
//!
//! | file | what it owns |
//! | --- | --- |
//! | `store.rs` | `RedisBlocklist` and its builder: layout, writes, checks, topology |
//! | `scripts.rs`, `scripts/*.lua` | the write scripts, one atomic step each |
//! | `connection.rs` | one connection type for every topology; error mapping |
//! | `subscriber.rs` | published revocations into a node's cache |
//! | `stream.rs` | stream entries and the replies that carry them |
//! | `follower.rs` | the task that loads and follows the stream |
//! | `snapshot.rs` | the facts snapshot a replica starts from, and who writes it |
//! | `replica.rs` | `RedisReplica`: checks answered from memory |

mod connection;
mod follower;
mod replica;
mod scripts;
mod snapshot;
mod store;
mod stream;
mod subscriber;

pub use replica::RedisReplica;
pub use store::{RedisBlocklist, RedisBlocklistBuilder};
