//! The shared blocklist in PostgreSQL (feature `postgres`): the store
//! ([`PostgresBlocklist`]), its schema, and the replica
//! ([`PostgresReplica`]) that keeps every revocation in this process's
//! memory, fed by `LISTEN`/`NOTIFY` and reads by revision.
//!
//! Imports go one way: the replica and its follower use the store; the
//! store knows nothing of them.
//!
//! | file | what it owns |
//! | --- | --- |
//! | `schema.rs` | the tables and functions, created idempotently |
//! | `store.rs` | `PostgresBlocklist` and its builder: connection, statements, writes, checks |
//! | `follower.rs` | the task that loads and follows the tables |
//! | `snapshot.rs` | the facts snapshot a replica starts from, and who writes it |
//! | `replica.rs` | `PostgresReplica`: checks answered from memory |

mod follower;
mod replica;
mod schema;
mod snapshot;
mod store;

pub use replica::PostgresReplica;
pub use store::{PostgresBlocklist, PostgresBlocklistBuilder};
